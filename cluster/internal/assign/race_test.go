//go:build race

package assign

// raceEnabled turns off wall-clock assertions: the race detector slows the
// placement loop several times over.
const raceEnabled = true
