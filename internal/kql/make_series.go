package kql

// makeSeries translates make-series.
func (t *translator) makeSeries(e *env, r *rel, v *MakeSeries) *rel {
	t.fail(v, "make-series is not supported yet: use summarize ... by bin(Timestamp, step)")
	return nil
}
