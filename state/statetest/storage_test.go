package statetest_test

import (
	"testing"

	"github.com/gale-stream/gale/state"
	"github.com/gale-stream/gale/state/statetest"
)

func TestDirStorage(t *testing.T) {
	statetest.TestStorage(t, func(t *testing.T) state.CheckpointStorage {
		st, err := state.NewDirStorage(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}
