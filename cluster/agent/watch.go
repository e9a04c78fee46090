// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"slices"
	"time"

	"google.golang.org/grpc/peer"

	"github.com/nvml-scaler/nvml-scaler/proto/nodev1"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// Watch implements NodeSnapshots.Watch; see the package doc for the protocol.
// Before the sampler's first sweep it sends nothing and waits. It returns nil
// when the client goes away or the Service stops, and the Send error when the
// stream breaks.
func (s *Service) Watch(req *nodev1.WatchRequest, stream nodev1.NodeSnapshots_WatchServer) error {
	ctx := stream.Context()
	log := s.log
	if p, ok := peer.FromContext(ctx); ok {
		log = log.With("peer", p.Addr.String())
	}
	log.Debug("watch opened", "epoch", req.GetEpoch(), "last_seq", req.GetLastSeq())
	defer log.Debug("watch closed")

	enc := &encoder{epoch: s.epoch, interval: s.sampler.Interval()}
	var sent uint64
	first := true
	for {
		updated := s.sampler.Updated() // before Latest: never miss a publish
		if latest := s.sampler.Latest(); latest != nil && (first || latest.Seq != sent) {
			batch := []*scaler.Snapshot{latest}
			if first {
				batch = s.backlog(req, latest)
				first = false
			}
			for _, snap := range batch {
				if err := stream.Send(s.message(enc, snap)); err != nil {
					return err
				}
			}
			sent = latest.Seq
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.stopping:
			return nil
		case <-updated:
		}
	}
}

// backlog returns what a (re)connecting client gets first, oldest first: the
// snapshots after its last one, within its backfill window, when it comes back
// to the same epoch; always ending with latest.
func (s *Service) backlog(req *nodev1.WatchRequest, latest *scaler.Snapshot) []*scaler.Snapshot {
	d := time.Duration(req.GetBackfillNanos())
	if req.GetEpoch() != s.epoch || d <= 0 {
		return []*scaler.Snapshot{latest}
	}
	var out []*scaler.Snapshot
	for _, snap := range s.sampler.Window(latest, min(d, scaler.MaxWindow)) {
		if snap.Seq <= req.GetLastSeq() && snap != latest {
			break
		}
		out = append(out, snap)
	}
	slices.Reverse(out)
	return out
}

// message encodes snap with the current attribution and engine pods.
func (s *Service) message(enc *encoder, snap *scaler.Snapshot) *nodev1.Snapshot {
	now := s.now()
	m := enc.encode(snap, s.attr.Current(), now)
	if s.engines != nil {
		v := s.engines.View()
		m.EnginePods, m.EngineIntervalNanos = encodeEngines(v, now), int64(v.Interval)
	}
	return m
}
