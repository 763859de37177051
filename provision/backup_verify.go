package provision

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// backupVerification is verification.json in a backup's directory: the
// outcome of the last full checksum verification, and the size and
// modification time each file had then. It is not one of the manifest's
// files: a restore never reads it.
const backupVerification = "verification.json"

// VerifyMaxAge is how long a verification stands when the files have not
// changed since: after it the checksums are computed again, so that
// damage that leaves size and modification time alone (a failing disk)
// is found within this time.
const VerifyMaxAge = 7 * 24 * time.Hour

// verification is what verification.json holds.
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
func stamps(b BackupInfo) ([]verifiedStamp, bool) {
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
func readVerification(b BackupInfo, now time.Time) (verification, bool) {
	raw, err := os.ReadFile(filepath.Join(b.Dir, backupVerification))
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

// recordVerification writes v as b's verification, atomically. Stamps
// are taken before hashing, so a file changed while it was hashed is
// verified again next time.
func recordVerification(b BackupInfo, v verification) error {
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(b.Dir, backupVerification), append(raw, '\n'), 0o600)
}

// checkBackup sets b's verification: the recorded one when it still
// stands, else a full checksum verification (VerifyBackup) made now and
// recorded. A damaged backup is not intact; Damaged names its file.
// A verification that cannot be recorded (a read-only backup directory)
// is still reported, and made again next time.
func checkBackup(b BackupInfo, now time.Time) BackupInfo {
	if !b.Intact {
		// Sizes already differ or a file is missing: that is the damage.
		b.Damaged = b.problemFile
		return b
	}
	v, ok := readVerification(b, now)
	if !ok {
		st, _ := stamps(b)
		v = verification{At: now.UTC(), Files: st}
		if bad := verifyBackup(b); bad != nil {
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

// corruptFile is the damage VerifyBackup found: which file, and why.
type corruptFile struct {
	id, name, why string
}

func (c *corruptFile) Error() string {
	return fmt.Sprintf("%s: %s of backup %s: %s", ErrBackupCorrupt, c.name, c.id, c.why)
}

func (c *corruptFile) Unwrap() error { return ErrBackupCorrupt }
