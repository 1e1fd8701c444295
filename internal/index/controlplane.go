package index

import (
	"strings"

	"github.com/cdewatch/cdewatch/internal/azure"
)

func prepareAKSControlPlane(r *row) {
	prepareAzure(r, azure.KindControlPlane)
	if !r.az.ok {
		r.az.cp.Category = r.rec.Action // the ledger record's action is the category
	}
}

// AKSControlPlane: logs of the AKS control-plane components other than the
// audit log (azure.KindControlPlane: kube-apiserver, guard, …).
var aksControlPlaneFields = append([]field{
	{ColTimeGenerated, func(r *row) any { return timestamp(r.az.time) }},
	{"Category", func(r *row) any { return r.az.cp.Category }},
	{"Level", func(r *row) any { return r.az.cp.Level }},
	{"Message", func(r *row) any { return r.az.cp.Message }},
	{"PodName", func(r *row) any { return r.az.cp.PodName }},
	{"Stream", func(r *row) any { return r.az.cp.Stream }},
	{"ContainerId", func(r *row) any { return r.az.cp.ContainerID }},
	{"SourceSystem", func(r *row) any { return "Azure" }},
	{"_ResourceId", func(r *row) any { return strings.ToLower(r.az.resourceID) }},
	{"_SubscriptionId", func(r *row) any { return strings.ToLower(r.az.ref.SubscriptionID) }},
	{"Type", func(r *row) any { return TableAKSControlPlane }},
}, commonFields...)
