package ckptstore

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Submission is what a node knows of one topology name, for [Server.Prune].
type Submission struct {
	// Incarnation is the live submission's incarnation ("" for none).
	Incarnation string
	// Killed means no submission of the name is live.
	Killed bool
}

// Prune deletes this node's copies of the checkpoints of dead submissions.
// For every topology stored here that known reports, it deletes the
// namespaces of every incarnation but the live one, or all of them when
// the topology was killed, once nothing has been written to them for
// Config.PruneAfter: a namespace of a submission newer than this node has
// heard of is being written, and stays. It leaves alone the topologies
// known does not report. It returns how many namespaces it deleted.
func (s *Server) Prune(known func(topology string) (Submission, bool)) int {
	dirs, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		if !os.IsNotExist(err) {
			s.logger.Warn("ckptstore: prune: list topologies", "err", err)
		}
		return 0
	}
	n := 0
	for _, d := range dirs {
		name, ok := topologyOfDir(d.Name())
		if !d.IsDir() || !ok {
			continue
		}
		sub, ok := known(name)
		if !ok {
			continue
		}
		topoDir := filepath.Join(s.cfg.Dir, d.Name())
		nss, err := os.ReadDir(topoDir)
		if err != nil {
			s.logger.Warn("ckptstore: prune: list namespaces", "topology", name, "err", err)
			continue
		}
		for _, ns := range nss {
			if !sub.Killed && sub.Incarnation != "" && strings.HasPrefix(ns.Name(), sub.Incarnation+".") {
				continue
			}
			if !sub.Killed && sub.Incarnation == "" {
				continue // a submission without incarnations keeps everything
			}
			if time.Since(lastWrite(filepath.Join(topoDir, ns.Name()))) < s.cfg.PruneAfter {
				continue
			}
			if err := os.RemoveAll(filepath.Join(topoDir, ns.Name())); err != nil {
				s.logger.Warn("ckptstore: prune", "topology", name, "namespace", ns.Name(), "err", err)
				continue
			}
			s.logger.Info("ckptstore: deleted the checkpoints of a dead submission", "topology", name, "namespace", ns.Name())
			n++
		}
		if sub.Killed {
			os.Remove(topoDir) // only if empty
		}
	}
	return n
}

// topologyOfDir inverts topologyDir.
func topologyOfDir(dir string) (string, bool) {
	if rest, ok := strings.CutPrefix(dir, "~"); ok {
		b, err := hex.DecodeString(rest)
		return string(b), err == nil
	}
	return dir, safeElement(dir)
}

// lastWrite returns when a namespace directory or its files or manifests
// directory last changed.
func lastWrite(dir string) time.Time {
	var t time.Time
	for _, d := range []string{dir, filepath.Join(dir, "files"), filepath.Join(dir, "manifests")} {
		if fi, err := os.Stat(d); err == nil && fi.ModTime().After(t) {
			t = fi.ModTime()
		}
	}
	return t
}
