package kql

// evaluate translates the evaluate plugins cdewatch supports.
func (t *translator) evaluate(e *env, r *rel, v *Evaluate) *rel {
	switch v.Call.Name {
	case "bag_unpack":
		return t.bagUnpack(e, r, v)
	case "dcount_intersect":
		return t.dcountIntersect(e, r, v)
	}
	t.fail(v, "evaluate %s is not supported", v.Call.Name)
	return nil
}
