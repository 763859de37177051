package postgres_test

import (
	"errors"
	"testing"

	"odoobot/provision"
)

func TestOdooVersion(t *testing.T) {
	s := openStore(t)
	ctx := testContext(t)
	reserve(t, s, "acme", nil)
	if v, err := s.OdooVersion(ctx, "acme"); err != nil || v != "" {
		t.Errorf("OdooVersion before it is set = %q, %v; want \"\"", v, err)
	}
	if err := s.SetOdooVersion(ctx, "acme", "19.0 community"); err != nil {
		t.Fatal(err)
	}
	if v, err := s.OdooVersion(ctx, "acme"); err != nil || v != "19.0 community" {
		t.Errorf("OdooVersion = %q, %v; want 19.0 community", v, err)
	}
	if err := s.SetOdooVersion(ctx, "nobody", "19.0"); !errors.Is(err, provision.ErrInstanceNotFound) {
		t.Errorf("SetOdooVersion of an unknown instance: %v", err)
	}
	if _, err := s.OdooVersion(ctx, "nobody"); !errors.Is(err, provision.ErrInstanceNotFound) {
		t.Errorf("OdooVersion of an unknown instance: %v", err)
	}
}
