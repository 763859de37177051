package nginx

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// mainConf is the main configuration file: the value of "-c" in TestArgs,
// else Config.Conf.
func (s *Sites) mainConf() string {
	for i, a := range s.cfg.TestArgs {
		if a == "-c" && i+1 < len(s.cfg.TestArgs) {
			return s.cfg.TestArgs[i+1]
		}
	}
	return s.cfg.Conf
}

// testCandidate runs `nginx -t` on the configuration nginx would have with
// site installed as name, without touching Available or Enabled.
//
// It copies the main configuration to a hidden file in the same directory
// (relative includes resolve against the directory of the file given with
// -c), with every "<Enabled>/" replaced by a temporary directory that
// holds a link to each enabled entry except name, plus site as name. It
// reports false, and tests nothing, when the main configuration does not
// name the Enabled directory literally. nginx's output names the real
// paths: the temporary ones are rewritten back.
func (s *Sites) testCandidate(ctx context.Context, name string, site []byte) (tested bool, err error) {
	conf := s.mainConf()
	text, err := os.ReadFile(conf)
	if err != nil {
		return false, fmt.Errorf("read main configuration: %w", err)
	}
	enabledPrefix := s.cfg.Enabled + string(filepath.Separator)
	if !bytes.Contains(text, []byte(enabledPrefix)) {
		return false, nil
	}

	dir, err := os.MkdirTemp("", "odoobot-nginx-candidate-")
	if err != nil {
		return false, fmt.Errorf("candidate: %w", err)
	}
	defer os.RemoveAll(dir)
	entries, err := os.ReadDir(s.cfg.Enabled)
	if err != nil {
		return false, fmt.Errorf("candidate: read enabled sites: %w", err)
	}
	for _, e := range entries {
		if e.Name() == name {
			continue
		}
		if err := os.Symlink(filepath.Join(s.cfg.Enabled, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			return false, fmt.Errorf("candidate: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, name), site, 0o644); err != nil {
		return false, fmt.Errorf("candidate: %w", err)
	}

	tmpPrefix := dir + string(filepath.Separator)
	f, err := os.CreateTemp(filepath.Dir(conf), ".odoobot-candidate-*.conf")
	if err != nil {
		return false, fmt.Errorf("candidate: %w", err)
	}
	tmpConf := f.Name()
	defer os.Remove(tmpConf)
	_, err = f.Write(bytes.ReplaceAll(text, []byte(enabledPrefix), []byte(tmpPrefix)))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, fmt.Errorf("candidate: %w", err)
	}

	args := withConf(s.cfg.TestArgs, tmpConf)
	rewrite := strings.NewReplacer(tmpPrefix, enabledPrefix, tmpConf, conf)
	if err := s.runTest(ctx, args, rewrite); err != nil {
		return true, err
	}
	return true, nil
}

// withConf returns args with the value of "-c" set to conf, or "-c conf"
// added.
func withConf(args []string, conf string) []string {
	out := append([]string{}, args...)
	for i, a := range out {
		if a == "-c" && i+1 < len(out) {
			out[i+1] = conf
			return out
		}
	}
	return append(out, "-c", conf)
}
