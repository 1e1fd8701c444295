// Package logdoc reads the log documents that shippers send — Fluent Bit,
// Fluentd, Vector and Filebeat through the Elasticsearch bulk API, the
// OpenTelemetry Collector and SDKs through OTLP (rendered by the receiver
// as documented in FORMAT.md) — and finds in them what the ContainerLog
// table and the 10.2.2 details need: the line, its time and stream, and
// the pod, namespace, container, image and node it came from.
//
// The receivers and the index use the same Extract, so a row's columns are
// always what the stored document says.
package logdoc

import (
	"strings"
	"time"

	json "github.com/goccy/go-json"
)

// Container is what Extract found in a document. Strings are "" and Time
// is zero when absent.
type Container struct {
	Time          time.Time
	Log           string // the log line
	Stream        string // stdout or stderr
	Computer      string // the node
	PodName       string
	PodNamespace  string
	PodUID        string
	ContainerName string
	ContainerID   string
	Image         string // the image without its tag
	ImageTag      string
	Agent         string // the kind of agent: fluent-bit, vector, filebeat, otlp, or "" when unknown
}

// paths lists, per field, where the known shippers put it: the first
// present wins. A path is a list of member names; OTLP attributes are
// flat maps with dotted keys, hence "resource", "k8s.pod.name".
var paths = struct {
	time, log, stream, computer, pod, namespace, podUID, container, containerID, image [][]string
}{
	time:   [][]string{{"time"}, {"@timestamp"}, {"timestamp"}, {"date"}, {"ts"}},
	log:    [][]string{{"log"}, {"message"}, {"body"}, {"msg"}, {"MESSAGE"}},
	stream: [][]string{{"stream"}, {"attributes", "log.iostream"}, {"log", "iostream"}},
	computer: [][]string{{"kubernetes", "host"}, {"kubernetes", "pod_node_name"}, {"kubernetes", "node", "name"},
		{"resource", "k8s.node.name"}, {"host", "name"}, {"host", "hostname"}, {"resource", "host.name"}, {"hostname"}, {"host"}},
	pod: [][]string{{"kubernetes", "pod_name"}, {"kubernetes", "pod", "name"}, {"resource", "k8s.pod.name"}},
	namespace: [][]string{{"kubernetes", "namespace_name"}, {"kubernetes", "pod_namespace"}, {"kubernetes", "namespace"},
		{"resource", "k8s.namespace.name"}},
	podUID:      [][]string{{"kubernetes", "pod_id"}, {"kubernetes", "pod_uid"}, {"kubernetes", "pod", "uid"}, {"resource", "k8s.pod.uid"}},
	container:   [][]string{{"kubernetes", "container_name"}, {"kubernetes", "container", "name"}, {"resource", "k8s.container.name"}},
	containerID: [][]string{{"kubernetes", "docker_id"}, {"kubernetes", "container_id"}, {"container", "id"}, {"resource", "container.id"}},
	image: [][]string{{"kubernetes", "container_image"}, {"kubernetes", "container", "image"}, {"container", "image", "name"},
		{"resource", "container.image.name"}},
}

// Extract reads a document (a JSON object). It reports false when doc is
// not a JSON object.
func Extract(doc []byte) (Container, bool) {
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil || m == nil {
		return Container{}, false
	}
	return FromMap(m), true
}

// FromMap is Extract over a decoded document.
func FromMap(m map[string]any) Container {
	var c Container
	c.Log = first(m, paths.log)
	c.Stream = first(m, paths.stream)
	c.Computer = first(m, paths.computer)
	c.PodName = first(m, paths.pod)
	c.PodNamespace = first(m, paths.namespace)
	c.PodUID = first(m, paths.podUID)
	c.ContainerName = first(m, paths.container)
	c.ContainerID = strings.TrimPrefix(strings.TrimPrefix(first(m, paths.containerID), "containerd://"), "docker://")
	c.Image, c.ImageTag = splitImage(first(m, paths.image))
	if tag := lookupString(m, []string{"resource", "container.image.tag"}); tag != "" && c.ImageTag == "" {
		c.ImageTag = tag
	}
	c.Time = parseTime(firstValue(m, paths.time))
	switch {
	case has(m, "resource") && has(m, "attributes"):
		c.Agent = "otlp"
	case has(m, "agent") && lookupString(m, []string{"agent", "type"}) != "":
		c.Agent = lookupString(m, []string{"agent", "type"}) // filebeat, metricbeat, …
	case lookupString(m, []string{"kubernetes", "pod_namespace"}) != "" || has(m, "source_type"):
		c.Agent = "vector"
	case lookupString(m, []string{"kubernetes", "namespace_name"}) != "":
		c.Agent = "fluent-bit"
	}
	return c
}

// splitImage splits "registry/repo:tag" (or "repo@sha256:…") into the
// image and its tag.
func splitImage(s string) (image, tag string) {
	if i := strings.IndexByte(s, '@'); i >= 0 {
		return s[:i], s[i+1:]
	}
	slash := strings.LastIndexByte(s, '/')
	if i := strings.LastIndexByte(s, ':'); i > slash {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// Repository returns the registry repository of an image, e.g.
// "mcr.microsoft.com/oss" for "mcr.microsoft.com/oss/nginx".
func Repository(image string) string {
	if i := strings.LastIndexByte(image, '/'); i >= 0 {
		return image[:i]
	}
	return ""
}

func has(m map[string]any, k string) bool { _, ok := m[k]; return ok }

func first(m map[string]any, ps [][]string) string {
	for _, p := range ps {
		if s := lookupString(m, p); s != "" {
			return s
		}
	}
	return ""
}

func firstValue(m map[string]any, ps [][]string) any {
	for _, p := range ps {
		if v, ok := lookup(m, p); ok && v != nil {
			return v
		}
	}
	return nil
}

func lookup(m map[string]any, p []string) (any, bool) {
	var v any = m
	for _, k := range p {
		o, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = o[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

// lookupString returns the value at p as text: strings as they are,
// other scalars as JSON, objects and arrays as "" (a log body that is an
// object is rendered by the caller when it needs one).
func lookupString(m map[string]any, p []string) string {
	v, ok := lookup(m, p)
	if !ok {
		return ""
	}
	switch v := v.(type) {
	case string:
		return v
	case nil, map[string]any, []any:
		return ""
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// parseTime reads a time as shippers write it: RFC 3339 (with or without
// fraction and zone), or a number of seconds (Fluent Bit's float time,
// Fluentd's integer time) or nanoseconds (OTLP) since the epoch.
func parseTime(v any) time.Time {
	switch v := v.(type) {
	case string:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
			if t, err := time.Parse(layout, v); err == nil {
				return t.UTC()
			}
		}
	case float64:
		switch {
		case v > 1e17: // nanoseconds
			return time.Unix(0, int64(v)).UTC()
		case v > 1e14: // microseconds
			return time.UnixMicro(int64(v)).UTC()
		case v > 1e11: // milliseconds
			return time.UnixMilli(int64(v)).UTC()
		case v > 0:
			sec := int64(v)
			return time.Unix(sec, int64((v-float64(sec))*1e9)).Truncate(time.Microsecond).UTC()
		}
	}
	return time.Time{}
}
