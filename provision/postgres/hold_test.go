package postgres_test

import (
	"errors"
	"testing"

	"odoobot/internal/testenv"
	"odoobot/provision"
	"odoobot/provision/postgres"
)

// TestHoldInstance: a quick verb's hold and a job exclude each other on
// one instance, across two stores (two odoobot processes), and leave
// other instances alone.
func TestHoldInstance(t *testing.T) {
	dsn := testenv.NewDatabase(t)
	s, cli := openDSN(t, dsn), openDSN(t, dsn) // serve and a CLI command
	ctx := testContext(t)

	release, err := s.HoldInstance(ctx, "acme")
	if err != nil {
		t.Fatalf("HoldInstance of a free instance: %v", err)
	}
	if _, err := cli.CreateJob(ctx, provision.Job{Kind: provision.JobRestore, Instance: "acme", RequestedBy: "@ana"}); !errors.Is(err, provision.ErrInstanceBusy) || !errors.Is(err, postgres.ErrInstanceHeld) {
		t.Errorf("CreateJob while a quick verb holds the instance: err = %v, want ErrInstanceBusy and ErrInstanceHeld", err)
	}
	if _, err := cli.HoldInstance(ctx, "acme"); !errors.Is(err, provision.ErrInstanceBusy) {
		t.Errorf("a second hold of a held instance: err = %v, want ErrInstanceBusy", err)
	}
	other, err := s.HoldInstance(ctx, "globex")
	if err != nil {
		t.Fatalf("a hold of another instance: %v", err)
	}
	other()
	release()
	release() // idempotent

	j, err := s.CreateJob(ctx, provision.Job{Kind: provision.JobRestore, Instance: "acme", RequestedBy: "@ana"})
	if err != nil {
		t.Fatalf("CreateJob once the hold is released: %v", err)
	}
	if _, err := cli.HoldInstance(ctx, "acme"); !errors.Is(err, provision.ErrInstanceBusy) {
		t.Errorf("a hold while a job is open: err = %v, want ErrInstanceBusy", err)
	}
	if err := s.FinishJob(ctx, j.ID, provision.JobSucceeded, "", nil); err != nil {
		t.Fatal(err)
	}
	release, err = s.HoldInstance(ctx, "acme")
	if err != nil {
		t.Fatalf("a hold after the job ended: %v", err)
	}
	defer release()
}
