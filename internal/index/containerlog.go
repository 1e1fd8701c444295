package index

import (
	"github.com/cdewatch/cdewatch/internal/logdoc"
)

func prepareContainerLog(r *row) {
	r.c, _ = logdoc.Extract(r.rec.Raw)
}

// ContainerLog: container log lines shipped as documents (internal/logdoc).
var containerLogFields = append([]field{
	{ColTimeGenerated, func(r *row) any {
		if r.rec.Time.IsZero() {
			return timestamp(r.rec.Received)
		}
		return timestamp(r.rec.Time)
	}},
	{"Computer", func(r *row) any { return r.c.Computer }},
	{"ContainerID", func(r *row) any { return r.c.ContainerID }},
	{"Image", func(r *row) any { return r.c.Image }},
	{"ImageTag", func(r *row) any { return r.c.ImageTag }},
	{"LogEntry", func(r *row) any { return r.c.Log }},
	{"LogEntrySource", func(r *row) any { return r.c.Stream }},
	{"Name", func(r *row) any {
		if r.c.PodUID == "" && r.c.ContainerName == "" {
			return ""
		}
		return r.c.PodUID + "/" + r.c.ContainerName
	}},
	{"Repository", func(r *row) any { return logdoc.Repository(r.c.Image) }},
	{"TimeOfCommand", func(r *row) any { return timestamp(r.rec.Received) }},
	{"SourceSystem", func(r *row) any { return r.c.Agent }},
	{"_ResourceId", func(r *row) any { return "" }},
	{"PodName", func(r *row) any { return r.c.PodName }},
	{"PodNamespace", func(r *row) any { return r.c.PodNamespace }},
	{"ContainerName", func(r *row) any { return r.c.ContainerName }},
}, commonFields...)
