package provisiontest

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"testing/fstest"

	"odoobot/provision"
)

// A filestore of the model is its owner: the view a backup reads holds
// one file, "owner", saying whose it is; a restore stages what the
// archive says and swaps owners between the tree and the staging
// directory (Host's staged and replaced).

// ReadFilestore calls read with a view of inst's filestore: empty when
// it has none.
func (f *Files) ReadFilestore(_ context.Context, inst provision.Instance, read func(fs.FS) error) error {
	f.h.mu.Lock()
	view := fstest.MapFS{}
	if t, ok := f.tree(inst); ok {
		if owner, ok := t.Stores[inst.Internal]; ok {
			view["owner"] = &fstest.MapFile{Data: []byte(owner), Mode: 0o640}
		}
	}
	f.h.mu.Unlock()
	return read(view)
}

// StageRestore reads archive whole and stages a filestore owned by user.
func (f *Files) StageRestore(_ context.Context, inst provision.Instance, user string, archive io.Reader) error {
	view := fstest.MapFS{}
	if archive != nil {
		b, err := io.ReadAll(archive)
		if err != nil {
			return fmt.Errorf("provisiontest: stage restore of %s: %w", inst.Internal, err)
		}
		// The model's archive is "path=content" lines (draft.Archive).
		for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if p, content, ok := strings.Cut(l, "="); ok {
				view[p] = &fstest.MapFile{Data: []byte(content), Mode: 0o640}
			}
		}
	}
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	f.h.staged[inst.Internal] = user
	f.h.stagedFiles[inst.Internal] = view
	return nil
}

// ReadStaged calls read with the files staged for inst.
func (f *Files) ReadStaged(_ context.Context, inst provision.Instance, read func(fs.FS) error) error {
	f.h.mu.Lock()
	view, ok := f.h.stagedFiles[inst.Internal]
	f.h.mu.Unlock()
	if !ok {
		return fmt.Errorf("provisiontest: read staged of %s: %w", inst.Internal, fs.ErrNotExist)
	}
	return read(view)
}

// SwapRestore moves the live filestore to replaced and the staged one in.
func (f *Files) SwapRestore(_ context.Context, inst provision.Instance, user string) (provision.RestoreSwap, error) {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	var done provision.RestoreSwap
	t, ok := f.tree(inst)
	if !ok {
		return done, fmt.Errorf("provisiontest: swap restore of %s: %w", inst.Internal, fs.ErrNotExist)
	}
	staged, ok := f.h.staged[inst.Internal]
	if !ok {
		return done, fmt.Errorf("provisiontest: swap restore of %s: nothing staged: %w", inst.Internal, fs.ErrNotExist)
	}
	delete(f.h.replaced, inst.Internal)
	if owner, ok := t.Stores[inst.Internal]; ok {
		f.h.replaced[inst.Internal] = owner
		delete(t.Stores, inst.Internal)
		done.HadLive = true
	}
	done.Swapped = true
	t.Stores[inst.Internal] = staged
	delete(f.h.staged, inst.Internal)
	delete(f.h.stagedFiles, inst.Internal)
	return done, nil
}

// UnswapRestore removes the live filestore and, when hadLive, puts the
// replaced one back.
func (f *Files) UnswapRestore(_ context.Context, inst provision.Instance, hadLive bool) error {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	t, ok := f.tree(inst)
	if !ok {
		return fmt.Errorf("provisiontest: unswap restore of %s: %w", inst.Internal, fs.ErrNotExist)
	}
	delete(t.Stores, inst.Internal)
	if !hadLive {
		return nil
	}
	owner, ok := f.h.replaced[inst.Internal]
	if !ok {
		return fmt.Errorf("provisiontest: unswap restore of %s: nothing replaced: %w", inst.Internal, fs.ErrNotExist)
	}
	t.Stores[inst.Internal] = owner
	delete(f.h.replaced, inst.Internal)
	return nil
}

// RestoreLeftover says what the model holds of a restore of inst.
func (f *Files) RestoreLeftover(_ context.Context, inst provision.Instance) (provision.RestoreLeft, error) {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	var left provision.RestoreLeft
	_, left.Staged = f.h.staged[inst.Internal]
	_, left.Replaced = f.h.replaced[inst.Internal]
	if t, ok := f.tree(inst); ok {
		_, left.Live = t.Stores[inst.Internal]
	}
	return left, nil
}

// DropRestore forgets the staged or the replaced filestore.
func (f *Files) DropRestore(_ context.Context, inst provision.Instance, tree provision.RestoreTree) error {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	if tree == provision.RestoreReplaced {
		delete(f.h.replaced, inst.Internal)
	} else {
		delete(f.h.staged, inst.Internal)
		delete(f.h.stagedFiles, inst.Internal)
	}
	return nil
}
