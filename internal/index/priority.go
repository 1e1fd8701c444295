package index

// background lowers the priority of the calling goroutine's thread by
// Options.Nice, for the rest of the goroutine's life.
func (x *Index) background() {
	if err := lowerPriority(x.opts.Nice); err != nil {
		x.log.Warn("index: cannot lower the priority of an indexing thread", "nice", x.opts.Nice, "err", err)
	}
}
