package odoo

import "context"

// BuildCount returns how many builds r has run, so that tests can tell a
// warm Ensure from a rebuild.
func BuildCount(r *Releases) int64 { return r.builds.Load() }

// Test access to the reading of Odoo's Python dependencies and version.
var (
	ReadSeries     = readSeries
	MissingModule  = missingModule
	ControlDepends = controlDepends
)

// PythonDep is an entry of the requirements → Debian table.
type PythonDep = pyDep

// PythonDeps returns the requirements → Debian table.
func PythonDeps() []PythonDep { return pythonDeps }

// LookupRequirement finds a requirements.txt name in the table.
func LookupRequirement(name string) (PythonDep, bool) { return depByReq(name) }

// RequirementNames returns the distribution names of a requirements.txt,
// every line whatever its marker.
func RequirementNames(data []byte) ([]string, error) {
	reqs, err := parseRequirements(data)
	var names []string
	for _, r := range reqs {
		names = append(names, r.Name)
	}
	return names, err
}

// DebianPlan returns the Debian dependency groups of a source and what
// it skipped, with markers evaluated by python as if it were CPython
// pyVersion ("3.12", full version pyVersion.0).
func DebianPlan(ctx context.Context, python, src, pyVersion string) (needs [][]string, skipped []string, err error) {
	p, err := debianPlan(ctx, python, src, versionEnv(pyVersion))
	return p.Needs, p.Skipped, err
}

// EvalMarkersAs evaluates markers in one run of python as if it were
// CPython pyVersion.
func EvalMarkersAs(ctx context.Context, python string, markers []string, pyVersion string) ([]bool, []error, error) {
	return evalMarkers(ctx, python, markers, versionEnv(pyVersion))
}

// EvalMarkers evaluates markers in one run of python, for its own
// environment.
func EvalMarkers(ctx context.Context, python string, markers []string) ([]bool, []error, error) {
	return evalMarkers(ctx, python, markers, nil)
}

func versionEnv(pyVersion string) map[string]string {
	return map[string]string{"python_version": pyVersion, "python_full_version": pyVersion + ".0"}
}

// ReadManifests reads manifests in one run of the system's python3.
func ReadManifests(ctx context.Context, names, paths []string) ([]Manifest, []error, error) {
	return readManifests(ctx, systemPython, names, paths)
}

// ErrNoPackaging is evalMarkers' error when python has no packaging library.
var ErrNoPackaging = errNoPackaging

// MaxManifestBytes is the largest manifest read.
const MaxManifestBytes = maxManifestBytes

// Run runs a command as the package's children run.
var Run = run
