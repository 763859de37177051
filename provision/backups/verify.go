package backups

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	"odoobot/internal/atomicfile"
	"odoobot/provision"
)

// VerificationName is the file in a backup's directory that records the
// outcome of the last full checksum verification, and the size and
// modification time each file had then. It is not one of the manifest's
// files: a restore never reads it.
const VerificationName = "verification.json"

// VerifyMaxAge is how long a verification stands when the files have not
// changed since: after it the checksums are computed again, so that
// damage that leaves size and modification time alone (a failing disk)
// is found within this time.
const VerifyMaxAge = 7 * 24 * time.Hour

// verification is what VerificationName holds.
type verification struct {
	At      time.Time       `json:"verified_at"`
	Damaged string          `json:"damaged,omitempty"` // the first file that did not match
	Problem string          `json:"problem,omitempty"` // what was wrong with it
	Files   []verifiedStamp `json:"files"`
}

// verifiedStamp is a file as it was when verified.
type verifiedStamp struct {
	Name    string `json:"name"`
	Size    int64  `json:"size"`
	ModTime int64  `json:"mtime_ns"`
}

// stamps returns the size and modification time of every manifest file
// of b; false when one cannot be read.
func stamps(b provision.BackupInfo) ([]verifiedStamp, bool) {
	out := make([]verifiedStamp, 0, len(b.Files))
	for _, f := range b.Files {
		st, err := os.Stat(filepath.Join(b.Dir, f.Name))
		if err != nil {
			return nil, false
		}
		out = append(out, verifiedStamp{Name: f.Name, Size: st.Size(), ModTime: st.ModTime().UnixNano()})
	}
	return out, true
}

// readVerification returns b's recorded verification when it still
// stands: recorded less than VerifyMaxAge before now, and every file with
// the size and modification time it had then.
func readVerification(b provision.BackupInfo, now time.Time) (verification, bool) {
	raw, err := os.ReadFile(filepath.Join(b.Dir, VerificationName))
	if err != nil {
		return verification{}, false
	}
	var v verification
	if json.Unmarshal(raw, &v) != nil || v.At.IsZero() || now.Sub(v.At) >= VerifyMaxAge || v.At.After(now) {
		return verification{}, false
	}
	cur, ok := stamps(b)
	if !ok || len(cur) != len(v.Files) {
		return verification{}, false
	}
	for i := range cur {
		if cur[i] != v.Files[i] {
			return verification{}, false
		}
	}
	return v, true
}

// recordVerification writes v as b's verification, atomically (creating
// b's directory, 0755, when it is missing). Stamps are taken before
// hashing, so a file changed while it was hashed is verified again next
// time.
func recordVerification(b provision.BackupInfo, v verification) error {
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(b.Dir, 0o755); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(b.Dir, VerificationName), append(raw, '\n'), 0o600)
}

// Check returns b with its verification: the recorded one when it still
// stands (see VerifyMaxAge), else a full checksum verification (Verify)
// made at now and recorded in VerificationName. A damaged backup is not
// intact: Damaged names its file and Problem says what is wrong. A backup
// that Read already found incomplete is not hashed: the missing or
// resized file is the damage. A verification that cannot be recorded
// (a read-only backup directory) is still reported, and made again next
// time.
func Check(b provision.BackupInfo, now time.Time) provision.BackupInfo {
	if !b.Intact {
		// Sizes already differ or a file is missing: that is the damage
		// (Read named it in Damaged).
		return b
	}
	v, ok := readVerification(b, now)
	if !ok {
		st, _ := stamps(b)
		v = verification{At: now.UTC(), Files: st}
		if bad := verify(b); bad != nil {
			v.Damaged, v.Problem = bad.name, bad.why
		}
		_ = recordVerification(b, v)
	}
	b.VerifiedAt = v.At
	if v.Damaged != "" {
		b.Intact, b.Damaged, b.Problem = false, v.Damaged, v.Damaged+": "+v.Problem
	}
	return b
}

// MarkVerified records that every checksum of b matched at at: for a
// backup whose manifest was just computed from the files it lists, which
// Check then need not hash again until VerifyMaxAge has passed. Nothing
// is recorded when a file cannot be read.
func MarkVerified(b provision.BackupInfo, at time.Time) error {
	st, ok := stamps(b)
	if !ok {
		return nil
	}
	return recordVerification(b, verification{At: at, Files: st})
}
