package odoo

// BuildCount returns how many builds r has run, so that tests can tell a
// warm Ensure from a rebuild.
func BuildCount(r *Releases) int64 { return r.builds.Load() }

// Test access to the reading of Odoo's Python dependencies and version.
var (
	EvalMarker     = evalMarker
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
// it skipped, for the interpreter version pyVersion.
func DebianPlan(src, pyVersion string) (needs [][]string, skipped []string, err error) {
	p, err := debianPlan(src, pyVersion)
	return p.Needs, p.Skipped, err
}

// Run runs a command as the package's children run.
var Run = run
