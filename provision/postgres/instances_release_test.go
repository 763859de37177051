package postgres_test

import (
	"errors"
	"testing"

	"odoobot/provision"
)

func TestSetRelease(t *testing.T) {
	s := openStore(t)
	ctx := testContext(t)
	reserve(t, s, "acme", nil)
	reserve(t, s, "beta", nil)
	if inst, err := s.Instance(ctx, "acme"); err != nil || inst.Release.Known() || inst.Release.ShortCommit() != "unknown" {
		t.Errorf("release before it is recorded = %+v, %v; want none, shown unknown", inst.Release, err)
	}
	rel := provision.ReleaseRecord{Key: "0123456789abcdef", Repo: "https://github.com/odoo/odoo.git",
		Commit: "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678", Python: "/usr/bin/python3.11", Deps: "debian"}
	if err := s.SetRelease(ctx, "acme", rel); err != nil {
		t.Fatal(err)
	}
	all, err := s.Instances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]provision.ReleaseRecord{}
	for _, i := range all {
		got[i.Name] = i.Release
	}
	if got["acme"] != rel {
		t.Errorf("acme's release = %+v, want %+v", got["acme"], rel)
	}
	if got["beta"] != (provision.ReleaseRecord{}) {
		t.Errorf("beta's release = %+v, want none: only acme's was recorded", got["beta"])
	}
	if err := s.SetRelease(ctx, "nobody", rel); !errors.Is(err, provision.ErrInstanceNotFound) {
		t.Errorf("SetRelease of an unknown instance: %v", err)
	}
}
