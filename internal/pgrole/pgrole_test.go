package pgrole_test

import (
	"testing"

	"odoobot/internal/pgrole"
)

// TestSCRAMVerifierMatchesRFC7677: the verifier of RFC 7677's example
// (password "pencil", its salt, 4096 iterations) holds the RFC's
// StoredKey and ServerKey, which PostgreSQL checks a login against.
func TestSCRAMVerifierMatchesRFC7677(t *testing.T) {
	got, err := pgrole.SCRAMVerifierWithSalt("pencil", "W22ZaJ0SNY7soEsUEjb6gQ==")
	if err != nil {
		t.Fatal(err)
	}
	want := "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
	if got != want {
		t.Errorf("verifier\n got %s\nwant %s", got, want)
	}
}
