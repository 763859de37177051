package provision

import "testing"

// TestRetentionValidate: a retention that would keep no daily, safety
// or final backup, or a negative count, is refused; the defaults pass.
func TestRetentionValidate(t *testing.T) {
	if err := DefaultRetention().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	for _, r := range []Retention{{Daily: 0, Safety: 1, Final: 1}, {Daily: 1, Safety: 0, Final: 1}, {Daily: 1, Safety: 1, Final: 0}, {Daily: 1, Weekly: -1, Safety: 1, Final: 1}} {
		if err := r.Validate(); err == nil {
			t.Errorf("%+v accepted", r)
		}
	}
}
