package auditpolicy

import (
	"fmt"
	"slices"
	"strings"

	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apiserver/pkg/apis/audit"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/apis/audit/validation"
)

var (
	levels = []auditv1.Level{auditv1.LevelNone, auditv1.LevelMetadata, auditv1.LevelRequest, auditv1.LevelRequestResponse}
	stages = []auditv1.Stage{auditv1.StageRequestReceived, auditv1.StageResponseStarted, auditv1.StageResponseComplete, auditv1.StagePanic}
)

// validate checks what kube-apiserver checks when it loads a policy, with
// the line of each problem, and then runs kube-apiserver's own validation
// (k8s.io/apiserver/pkg/apis/audit/validation) so that nothing it refuses
// is accepted here.
//
// full is false when the policy could only be decoded in part (the walk
// found problems): kube-apiserver's validation is then left out, as the
// part decoded is not what kube-apiserver would read.
func validate(p *Policy, full bool) []Problem {
	var probs []Problem
	add := func(path, format string, args ...any) {
		probs = append(probs, Problem{Line: p.Line(path), Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if len(p.Spec.Rules) == 0 && (full || p.Line("rules") == 0) {
		line := p.Line("rules")
		probs = append(probs, Problem{Line: line, Path: "rules", Msg: "no rules: kube-apiserver refuses a policy without rules; end the list with a catch-all rule (- level: Metadata)"})
	}
	checkStages := func(path string, ss []auditv1.Stage) {
		for i, s := range ss {
			if !slices.Contains(stages, s) {
				msg := fmt.Sprintf("%q is not a stage; the stages are RequestReceived, ResponseStarted, ResponseComplete, Panic", s)
				if sug := suggest(string(s), stageNames()); sug != "" {
					msg += fmt.Sprintf(" (did you mean %s?)", sug)
				}
				add(fmt.Sprintf("%s[%d]", path, i), "%s", msg)
			}
		}
	}
	checkStages("omitStages", p.Spec.OmitStages)
	for i, r := range p.Spec.Rules {
		rp := rulePath(i)
		switch {
		case r.Level == "":
			probs = append(probs, Problem{Line: p.Line(rp), Path: rp + ".level", Msg: "no level: every rule needs one of None, Metadata, Request, RequestResponse"})
		case !slices.Contains(levels, r.Level):
			msg := fmt.Sprintf("%q is not a level; the levels are None, Metadata, Request, RequestResponse", r.Level)
			if sug := suggest(string(r.Level), levelNames()); sug != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", sug)
			}
			add(rp+".level", "%s", msg)
		}
		checkStages(rp+".omitStages", r.OmitStages)
		for j, u := range r.NonResourceURLs {
			path := fmt.Sprintf("%s.nonResourceURLs[%d]", rp, j)
			if u == "*" {
				continue
			}
			if !strings.HasPrefix(u, "/") {
				add(path, "%q must begin with / (or be * for every non-resource URL)", u)
			}
			if u != "" && strings.Contains(u[:len(u)-1], "*") {
				add(path, "%q: a * may only be the last character", u)
			}
		}
		if len(r.NonResourceURLs) > 0 && (len(r.Resources) > 0 || len(r.Namespaces) > 0) {
			add(rp+".nonResourceURLs", "a rule applies to resources (resources, namespaces) or to non-resource URLs, not both: split it into two rules")
		}
		for j, gr := range r.Resources {
			path := fmt.Sprintf("%s.resources[%d]", rp, j)
			if gr.Group != "" && gr.Group != "*" {
				if msgs := utilvalidation.IsDNS1123Subdomain(gr.Group); len(msgs) > 0 {
					msg := fmt.Sprintf("group %q is not an API group name (a lower-case DNS name such as apps or rbac.authorization.k8s.io; \"\" is the core group)", gr.Group)
					if g, _, ok := strings.Cut(gr.Group, "/"); ok {
						msg += fmt.Sprintf("; write the group without its version: %q", g)
					}
					add(path+".group", "%s", msg)
				}
			}
			if len(gr.ResourceNames) > 0 && len(gr.Resources) == 0 {
				add(path+".resourceNames", "resourceNames needs resources: name the resource the names belong to")
			}
		}
	}
	if len(probs) > 0 || !full {
		return probs
	}
	// kube-apiserver's own validation, as a backstop.
	var internal audit.Policy
	if err := auditv1.Convert_v1_Policy_To_audit_Policy(&p.Spec, &internal, nil); err != nil {
		return []Problem{{Msg: "cannot convert the policy for validation: " + err.Error()}}
	}
	for _, e := range validation.ValidatePolicy(&internal) {
		probs = append(probs, Problem{Line: p.Line(e.Field), Path: e.Field, Msg: e.ErrorBody()})
	}
	return probs
}

func levelNames() []string {
	out := make([]string, len(levels))
	for i, l := range levels {
		out[i] = string(l)
	}
	return out
}

func stageNames() []string {
	out := make([]string, len(stages))
	for i, s := range stages {
		out[i] = string(s)
	}
	return out
}
