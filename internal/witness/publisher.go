package witness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/cdewatch/cdewatch/internal/fsutil"
	"github.com/cdewatch/cdewatch/internal/ledger"
)

// ErrWitnessRolledBack is reported when a witness accepted a checkpoint
// from a size smaller than one it had cosigned before: it lost its state,
// and until it cosigns again it no longer vouches for the older history.
var ErrWitnessRolledBack = errors.New("the witness forgot checkpoints it had cosigned")

// PublishFunc receives each checkpoint that differs from the last one it
// received, once, after the witnesses answered, with the cosignatures
// they gave. It must not
// block for long (it runs in the Publisher's round); a publication it
// loses is superseded by the next one, which covers it.
type PublishFunc func(p Publication)

// Publication is a checkpoint as published.
type Publication struct {
	Origin string
	Size   uint64
	Root   []byte
	Signed time.Time // the checkpoint's signing time (its timestamp line)
	// Checkpoint is the note as the ledger signed it.
	Checkpoint []byte
	// Note is Checkpoint with the cosignature lines of every witness that
	// cosigned it appended; `cdewatch verify --against` takes it as is.
	Note []byte
	// Cosigners are the names of those witnesses.
	Cosigners []string
}

// Options configure a Publisher.
type Options struct {
	// Latest returns the ledger's latest signed checkpoint (nil if none);
	// ledger.Ledger.LatestCheckpoint is one. Required.
	Latest func() *ledger.Checkpoint
	// Prove returns consistency proofs; ledger.Ledger.ConsistencyProof is
	// one. Required.
	Prove ProofFunc
	// LogVerifier is the ledger's checkpoint key (ledger.Ledger.Verifier):
	// a checkpoint that does not verify with it is not published. Required.
	LogVerifier note.Verifier
	// Dir holds the state (state.json) and, per witness, the latest
	// checkpoint it cosigned. Created if missing. Required.
	Dir       string
	Witnesses []Witness
	// Interval between rounds; default 1 min. A round runs only what
	// changed: a witness is asked only when the tree grew past what it
	// cosigned.
	Interval time.Duration
	// Timeout bounds one request; default 30 s.
	Timeout time.Duration
	// Attempts is how many times a round asks a witness whose failure is
	// temporary (network, 5xx, 429); default 3. Retries wait Backoff,
	// doubling, with jitter, and stop at the end of the Interval.
	Attempts int
	Backoff  time.Duration // default 5 s
	// HTTPClient makes the requests; default http.DefaultTransport.
	HTTPClient *http.Client
	// OnPublish receives each new checkpoint (for the SIEM). Optional.
	OnPublish PublishFunc
	// OnFailure is called after every round in which a witness did not
	// cosign the latest checkpoint, with the error and the time it first
	// failed (PCI DSS 10.7.2). Optional.
	OnFailure func(witness string, err error, since time.Time)
	// OnRecovered is called when a witness that failed cosigned again.
	OnRecovered func(witness string, since time.Time)
	Logger      *slog.Logger
	Now         func() time.Time
}

// Publisher publishes the ledger's checkpoints to witnesses and the SIEM.
type Publisher struct {
	o       Options
	clients []*Client
	log     *slog.Logger

	round sync.Mutex // one round at a time

	mu      sync.Mutex // guards st and failing
	st      *state
	failing map[string]*failure
}

type failure struct {
	since time.Time
	err   error
}

// New checks o, loads the state from o.Dir and returns the Publisher.
func New(o Options) (*Publisher, error) {
	if o.Latest == nil || o.Prove == nil || o.LogVerifier == nil {
		return nil, errors.New("witness publisher: Latest, Prove and LogVerifier are required")
	}
	if o.Dir == "" {
		return nil, errors.New("witness publisher: a state directory is required")
	}
	if o.Interval <= 0 {
		o.Interval = time.Minute
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Attempts <= 0 {
		o.Attempts = 3
	}
	if o.Backoff <= 0 {
		o.Backoff = 5 * time.Second
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	p := &Publisher{o: o, log: o.Logger, failing: map[string]*failure{}}
	seen := map[string]bool{}
	for i, w := range o.Witnesses {
		c, err := NewClient(w, o.HTTPClient)
		if err != nil {
			return nil, fmt.Errorf("witness %d: %w", i+1, err)
		}
		if seen[c.key] {
			return nil, fmt.Errorf("witness %d: key %s is configured twice", i+1, c.key)
		}
		seen[c.key] = true
		p.clients = append(p.clients, c)
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create witness state directory: %w", err)
	}
	st, err := loadState(o.Dir, o.LogVerifier.Name())
	if err != nil {
		return nil, err
	}
	p.st = st
	return p, nil
}

// Run publishes now and then every Interval until ctx ends, then makes a
// last round bounded to 10 s, and returns nil. Failures are reported
// through OnFailure; nothing Run does waits on or slows the ledger.
func (p *Publisher) Run(ctx context.Context) error {
	t := time.NewTicker(p.o.Interval)
	defer t.Stop()
	for {
		if err := p.Publish(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("checkpoint publication incomplete", "err", err)
		}
		select {
		case <-ctx.Done():
			last, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if err := p.publish(last, 1); err != nil {
				p.log.Warn("last checkpoint publication before stopping incomplete; it resumes at the next start", "err", err)
			}
			cancel()
			return nil
		case <-t.C:
		}
	}
}

// Publish runs one round: every witness that has not cosigned the latest
// checkpoint is asked to (with retries), then OnPublish receives the
// checkpoint if it is new. It returns the witnesses' errors, joined.
func (p *Publisher) Publish(ctx context.Context) error {
	return p.publish(ctx, p.o.Attempts)
}

func (p *Publisher) publish(ctx context.Context, attempts int) error {
	p.round.Lock()
	defer p.round.Unlock()
	cp := p.o.Latest()
	if cp == nil || cp.Size == 0 {
		return nil // nothing to vouch for yet
	}
	if _, err := ledger.ParseCheckpoint(cp.Note, p.o.LogVerifier); err != nil {
		return fmt.Errorf("the ledger's latest checkpoint does not verify with its key: %w", err)
	}
	deadline := p.o.Now().Add(p.o.Interval)
	errs := make([]error, len(p.clients))
	asked := false
	var wg sync.WaitGroup
	for i, c := range p.clients {
		p.mu.Lock()
		ws := p.st.Witnesses[c.key]
		p.mu.Unlock()
		if ws != nil && ws.Size == cp.Size && bytes.Equal(ws.Root, cp.Root) {
			continue // already cosigned
		}
		asked = true
		wg.Go(func() { errs[i] = p.ask(ctx, c, cp, ws, attempts, deadline) })
	}
	wg.Wait()

	p.mu.Lock()
	// A checkpoint other than the last published one is published, a
	// smaller one too: a ledger cut back then shows in the SIEM.
	last := p.st.Published
	isNew := last == nil || last.Size != cp.Size || !bytes.Equal(last.Root, cp.Root)
	var publication Publication
	if isNew {
		publication = p.publication(cp)
		p.st.Published = &published{Size: cp.Size, Root: cp.Root, Time: p.o.Now().UTC()}
	}
	var err error
	if asked || isNew {
		err = p.st.save(p.o.Dir)
	}
	p.mu.Unlock()
	if err != nil {
		errs = append(errs, err)
	}
	if isNew && p.o.OnPublish != nil {
		p.o.OnPublish(publication)
	}
	return errors.Join(errs...)
}

// ask has one witness cosign cp, retrying temporary failures, records the
// outcome and reports it.
func (p *Publisher) ask(ctx context.Context, c *Client, cp *ledger.Checkpoint, ws *witnessState, attempts int, deadline time.Time) error {
	var old uint64
	if ws != nil {
		old = ws.Size
	}
	var res *Cosigned
	var err error
	delay := p.o.Backoff
	for attempt := 1; ; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, p.o.Timeout)
		res, err = c.Cosign(rctx, cp, old, p.o.Prove)
		cancel()
		if err == nil || !Temporary(err) || attempt >= attempts || ctx.Err() != nil {
			break
		}
		wait := delay/2 + rand.N(delay)
		if p.o.Now().Add(wait).After(deadline) {
			break
		}
		p.log.Debug("witness request failed; retrying", "witness", c.Name(), "attempt", attempt, "wait", wait, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		delay *= 2
	}
	if err == nil && res.Old < old {
		err = fmt.Errorf("witness %s: %w: it had cosigned size %d but held only size %d when asked again; it cosigned size %d now, but until its operator finds out why, do not count on it for the history before",
			c.Name(), ErrWitnessRolledBack, old, res.Old, cp.Size)
	}
	if res != nil {
		if serr := p.store(c, res); serr != nil && err == nil {
			err = serr
		}
	}
	p.report(c, err)
	return err
}

// store records what a witness cosigned and writes its cosigned file.
func (p *Publisher) store(c *Client, res *Cosigned) error {
	file := cosignedFileName(c.Name(), c.Verifier().KeyHash())
	if err := fsutil.WriteFileAtomic(filepath.Join(p.o.Dir, file), res.Note, 0o644); err != nil {
		return fmt.Errorf("witness %s: store cosigned checkpoint: %w", c.Name(), err)
	}
	p.mu.Lock()
	p.st.Witnesses[c.key] = &witnessState{Name: c.Name(), URL: c.base, Size: res.Size, Root: res.Root,
		Note: string(res.Note), CosignedAt: res.Time, File: file}
	p.mu.Unlock()
	p.log.Debug("checkpoint cosigned", "witness", c.Name(), "size", res.Size, "from", res.Old)
	return nil
}

// report tells OnFailure / OnRecovered about one witness's round.
func (p *Publisher) report(c *Client, err error) {
	name := c.Name()
	now := p.o.Now().UTC()
	p.mu.Lock()
	f := p.failing[c.key]
	switch {
	case err != nil && f == nil:
		f = &failure{since: now}
		p.failing[c.key] = f
	case err == nil:
		delete(p.failing, c.key)
	}
	if f != nil && err != nil {
		f.err = err
	}
	p.mu.Unlock()
	switch {
	case err != nil:
		p.log.Warn("witness did not cosign the ledger's checkpoint", "witness", name, "since", f.since, "err", err)
		if p.o.OnFailure != nil {
			p.o.OnFailure(name, err, f.since)
		}
	case f != nil:
		p.log.Info("witness cosigns again", "witness", name, "failing_since", f.since)
		if p.o.OnRecovered != nil {
			p.o.OnRecovered(name, f.since)
		}
	}
}

// publication builds the Publication of cp with every cosignature on it
// held in the state. Callers hold p.mu.
func (p *Publisher) publication(cp *ledger.Checkpoint) Publication {
	pub := Publication{Origin: p.o.LogVerifier.Name(), Size: cp.Size, Root: cp.Root, Signed: cp.Time,
		Checkpoint: cp.Note, Note: append([]byte(nil), cp.Note...)}
	for _, c := range p.clients {
		ws := p.st.Witnesses[c.key]
		if ws == nil || ws.Size != cp.Size || !bytes.Equal(ws.Root, cp.Root) {
			continue
		}
		_, sigs, err := splitNote([]byte(ws.Note))
		if err != nil {
			continue
		}
		parsed, err := ParseCosignatures(sigs)
		if err != nil {
			continue
		}
		for _, s := range parsed {
			if s.Name == c.Name() && s.Hash == c.Verifier().KeyHash() {
				pub.Note = append(pub.Note, FormatSignatures([]note.Signature{s})...)
			}
		}
		pub.Cosigners = append(pub.Cosigners, c.Name())
	}
	return pub
}

// WitnessStatus is what the Publisher knows of one witness.
type WitnessStatus struct {
	Name string
	URL  string
	// Size is the size of the latest checkpoint the witness cosigned (0
	// if none yet), CosignedAt its cosignature's time.
	Size       uint64
	CosignedAt time.Time
	// File is the path of that cosigned checkpoint ("" if none).
	File string
	// Err is the error of the latest round, since when it fails.
	Err          error
	FailingSince time.Time
}

// Status returns the state of every configured witness, in configuration
// order.
func (p *Publisher) Status() []WitnessStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]WitnessStatus, 0, len(p.clients))
	for _, c := range p.clients {
		s := WitnessStatus{Name: c.Name(), URL: c.base}
		if ws := p.st.Witnesses[c.key]; ws != nil {
			s.Size, s.CosignedAt, s.File = ws.Size, ws.CosignedAt, filepath.Join(p.o.Dir, ws.File)
		}
		if f := p.failing[c.key]; f != nil {
			s.Err, s.FailingSince = f.err, f.since
		}
		out = append(out, s)
	}
	return out
}
