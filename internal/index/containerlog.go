package index

import (
	"github.com/cdewatch/cdewatch/internal/logdoc"
)

func prepareContainerLog(r *row) {
	r.c, _ = logdoc.Extract(r.rec.Raw)
}

// ContainerLog: container log lines shipped as documents (internal/logdoc).
var containerLogFields = append([]field{
	{ColTimeGenerated, func(r *row) cell {
		if r.rec.Time.IsZero() {
			return timestamp(r.rec.Received)
		}
		return timestamp(r.rec.Time)
	}},
	{"Computer", func(r *row) cell { return text(r.c.Computer) }},
	{"ContainerID", func(r *row) cell { return text(r.c.ContainerID) }},
	{"Image", func(r *row) cell { return text(r.c.Image) }},
	{"ImageTag", func(r *row) cell { return text(r.c.ImageTag) }},
	{"LogEntry", func(r *row) cell { return text(r.c.Log) }},
	{"LogEntrySource", func(r *row) cell { return text(r.c.Stream) }},
	{"Name", func(r *row) cell {
		if r.c.PodUID == "" && r.c.ContainerName == "" {
			return text("")
		}
		return text(r.c.PodUID + "/" + r.c.ContainerName)
	}},
	{"Repository", func(r *row) cell { return text(logdoc.Repository(r.c.Image)) }},
	{"TimeOfCommand", func(r *row) cell { return timestamp(r.rec.Received) }},
	{"SourceSystem", func(r *row) cell { return text(r.c.Agent) }},
	{"_ResourceId", func(r *row) cell { return text("") }},
	{"PodName", func(r *row) cell { return text(r.c.PodName) }},
	{"PodNamespace", func(r *row) cell { return text(r.c.PodNamespace) }},
	{"ContainerName", func(r *row) cell { return text(r.c.ContainerName) }},
}, commonFields...)
