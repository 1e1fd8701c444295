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
	{ColTimeGenerated, func(r *row) cell { return timestamp(r.az.time) }},
	{"Category", func(r *row) cell { return text(r.az.cp.Category) }},
	{"Level", func(r *row) cell { return text(r.az.cp.Level) }},
	{"Message", func(r *row) cell { return text(r.az.cp.Message) }},
	{"PodName", func(r *row) cell { return text(r.az.cp.PodName) }},
	{"Stream", func(r *row) cell { return text(r.az.cp.Stream) }},
	{"ContainerId", func(r *row) cell { return text(r.az.cp.ContainerID) }},
	{"SourceSystem", func(r *row) cell { return text("Azure") }},
	{"_ResourceId", func(r *row) cell { return text(strings.ToLower(r.az.resourceID)) }},
	{"_SubscriptionId", func(r *row) cell { return text(strings.ToLower(r.az.ref.SubscriptionID)) }},
	{"Type", func(r *row) cell { return text(TableAKSControlPlane) }},
}, commonFields...)
