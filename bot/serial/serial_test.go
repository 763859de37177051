package serial

import (
	"sync"
	"testing"
)

func TestOrderAndClose(t *testing.T) {
	q := New(4)
	var mu sync.Mutex
	var got []int
	done := make(chan struct{})
	for i := range 100 {
		last := i == 99
		if !q.Do(func() {
			mu.Lock()
			got = append(got, i)
			mu.Unlock()
			if last {
				close(done)
			}
		}, last) {
			t.Fatalf("Do %d refused before the last", i)
		}
	}
	<-done
	for i, v := range got {
		if v != i {
			t.Fatalf("ran %d at position %d", v, i)
		}
	}
	if q.Do(func() { t.Error("ran after close") }, false) {
		t.Error("Do accepted after the last")
	}
}
