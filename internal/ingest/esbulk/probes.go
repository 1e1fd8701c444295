package esbulk

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"strings"
)

// The fixed parts of the cluster description (those of Elasticsearch
// 8.11.0, whatever Version says).
const (
	buildHash       = "cdewatch" // not an Elasticsearch build: no client checks it
	buildDate       = "2023-11-04T10:04:57.184859352Z"
	luceneVersion   = "9.8.0"
	minWireVersion  = "7.17.0"
	minIndexVersion = "7.0.0"
	clusterName     = "cdewatch"
	nodeName        = "cdewatch"
	// licenseUID and the issue date identify the basic license answered by
	// /_license and /_xpack.
	licenseUID         = "5b7e0f0c-6a8d-4c2e-9f61-cdeca7c40001"
	licenseIssueDate   = "2024-01-01T00:00:00.000Z"
	licenseIssueMillis = 1704067200000
)

type versionInfo struct {
	Number                           string `json:"number"`
	BuildFlavor                      string `json:"build_flavor"`
	BuildType                        string `json:"build_type"`
	BuildHash                        string `json:"build_hash"`
	BuildDate                        string `json:"build_date"`
	BuildSnapshot                    bool   `json:"build_snapshot"`
	LuceneVersion                    string `json:"lucene_version"`
	MinimumWireCompatibilityVersion  string `json:"minimum_wire_compatibility_version"`
	MinimumIndexCompatibilityVersion string `json:"minimum_index_compatibility_version"`
}

// info serves GET / and HEAD /: the cluster description every client
// reads first (version.number picks the protocol; build_flavor "default"
// and the tagline are what pre-7.14 clients check, the X-Elastic-Product
// header what later ones check).
func (h *Handler) info(w http.ResponseWriter, r *http.Request) {
	writeValue(w, r, http.StatusOK, struct {
		Name        string      `json:"name"`
		ClusterName string      `json:"cluster_name"`
		ClusterUUID string      `json:"cluster_uuid"`
		Version     versionInfo `json:"version"`
		Tagline     string      `json:"tagline"`
	}{nodeName, clusterName, h.clusterUUID(), h.versionInfo(), "You Know, for Search"})
}

func (h *Handler) versionInfo() versionInfo {
	return versionInfo{Number: h.version(), BuildFlavor: "default", BuildType: "docker", BuildHash: buildHash, BuildDate: buildDate,
		LuceneVersion: luceneVersion, MinimumWireCompatibilityVersion: minWireVersion, MinimumIndexCompatibilityVersion: minIndexVersion}
}

// license serves GET /_license: an active basic license, which is what
// Beats (x-pack licenser: type basic or better, status active) require.
func (h *Handler) license(w http.ResponseWriter, r *http.Request) {
	type lic struct {
		Status            string `json:"status"`
		UID               string `json:"uid"`
		Type              string `json:"type"`
		IssueDate         string `json:"issue_date"`
		IssueDateInMillis int64  `json:"issue_date_in_millis"`
		MaxNodes          int    `json:"max_nodes"`
		MaxResourceUnits  *int   `json:"max_resource_units"`
		IssuedTo          string `json:"issued_to"`
		Issuer            string `json:"issuer"`
		StartDateInMillis int64  `json:"start_date_in_millis"`
	}
	writeValue(w, r, http.StatusOK, struct {
		License lic `json:"license"`
	}{lic{Status: "active", UID: licenseUID, Type: "basic", IssueDate: licenseIssueDate, IssueDateInMillis: licenseIssueMillis,
		MaxNodes: 1000, IssuedTo: clusterName, Issuer: "elasticsearch", StartDateInMillis: -1}})
}

// xpack serves GET /_xpack: build, the basic license (type and mode, as
// older Beats read it) and the features, ILM among them (Logstash and
// Beats 7 check it before managing index lifecycles).
func (h *Handler) xpack(w http.ResponseWriter, r *http.Request) {
	type feature struct {
		Available bool `json:"available"`
		Enabled   bool `json:"enabled"`
	}
	on := feature{true, true}
	writeValue(w, r, http.StatusOK, struct {
		Build struct {
			Hash string `json:"hash"`
			Date string `json:"date"`
		} `json:"build"`
		License struct {
			UID    string `json:"uid"`
			Type   string `json:"type"`
			Mode   string `json:"mode"`
			Status string `json:"status"`
		} `json:"license"`
		Features map[string]feature `json:"features"`
		Tagline  string             `json:"tagline"`
	}{
		Build: struct {
			Hash string `json:"hash"`
			Date string `json:"date"`
		}{buildHash, buildDate},
		License: struct {
			UID    string `json:"uid"`
			Type   string `json:"type"`
			Mode   string `json:"mode"`
			Status string `json:"status"`
		}{licenseUID, "basic", "basic", "active"},
		Features: map[string]feature{
			"ilm": on, "security": on, "monitoring": on, "logstash": on, "data_streams": on,
			"graph": {}, "ml": {}, "rollup": {}, "watcher": {},
		},
		Tagline: "for more information see https://www.elastic.co/guide/en/elasticsearch/reference/current/xpack-api.html",
	})
}

// setup serves the index-management probes: index templates (composable,
// legacy, component), ILM policies, ingest pipelines and data streams.
// Nothing is kept: GET and HEAD say "missing" (404, so a shipper puts
// its own), PUT and POST are acknowledged and their body discarded. The
// documents are stored as sent whatever mappings, lifecycles or pipelines
// say.
func (h *Handler) setup(w http.ResponseWriter, r *http.Request, segs []string) {
	h.drain(r)
	name := segs[len(segs)-1]
	if r.Method == http.MethodPut || r.Method == http.MethodPost {
		writeJSON(w, r, http.StatusOK, []byte(`{"acknowledged":true}`+"\n"))
		return
	}
	switch segs[0] {
	case "_template", "_ingest":
		writeJSON(w, r, http.StatusNotFound, []byte("{}\n"))
	case "_index_template", "_component_template":
		what := "index template"
		if segs[0] == "_component_template" {
			what = "component template"
		}
		writeError(w, r, http.StatusNotFound, "resource_not_found_exception", what+" matching ["+name+"] not found")
	case "_ilm":
		writeError(w, r, http.StatusNotFound, "resource_not_found_exception", "Lifecycle policy not found: "+name)
	default: // _data_stream
		writeError(w, r, http.StatusNotFound, "index_not_found_exception", "no such index ["+name+"]")
	}
}

// index serves HEAD, GET and PUT /{index}: every index exists (a bulk
// request may name any), and creating one is acknowledged.
func (h *Handler) index(w http.ResponseWriter, r *http.Request, name string) {
	h.drain(r)
	switch r.Method {
	case http.MethodPut:
		writeValue(w, r, http.StatusOK, struct {
			Acknowledged       bool   `json:"acknowledged"`
			ShardsAcknowledged bool   `json:"shards_acknowledged"`
			Index              string `json:"index"`
		}{true, true, name})
	default:
		writeValue(w, r, http.StatusOK, map[string]any{name: map[string]any{
			"aliases": map[string]any{}, "mappings": map[string]any{},
			"settings": map[string]any{"index": map[string]any{"number_of_shards": "1", "number_of_replicas": "0", "provided_name": name}},
		}})
	}
}

// nodes serves GET /_nodes/...: one node, this server, reachable at the
// address the client used (sniffing clients then keep talking to it).
func (h *Handler) nodes(w http.ResponseWriter, r *http.Request) {
	addr := r.Host
	if _, _, err := net.SplitHostPort(addr); err != nil {
		port := "80"
		if r.TLS != nil {
			port = "443"
		}
		addr = net.JoinHostPort(strings.Trim(addr, "[]"), port)
	}
	host, _, _ := net.SplitHostPort(addr)
	sum := sha256.Sum256([]byte("node:" + h.clusterUUID()))
	id := base64.RawURLEncoding.EncodeToString(sum[:16])
	type httpInfo struct {
		BoundAddress            []string `json:"bound_address"`
		PublishAddress          string   `json:"publish_address"`
		MaxContentLengthInBytes int64    `json:"max_content_length_in_bytes"`
	}
	type node struct {
		Name             string            `json:"name"`
		TransportAddress string            `json:"transport_address"`
		Host             string            `json:"host"`
		IP               string            `json:"ip"`
		Version          string            `json:"version"`
		BuildFlavor      string            `json:"build_flavor"`
		BuildType        string            `json:"build_type"`
		BuildHash        string            `json:"build_hash"`
		Roles            []string          `json:"roles"`
		Attributes       map[string]string `json:"attributes"`
		HTTP             httpInfo          `json:"http"`
	}
	writeValue(w, r, http.StatusOK, struct {
		Nodes struct {
			Total      int `json:"total"`
			Successful int `json:"successful"`
			Failed     int `json:"failed"`
		} `json:"_nodes"`
		ClusterName string          `json:"cluster_name"`
		NodeMap     map[string]node `json:"nodes"`
	}{
		Nodes: struct {
			Total      int `json:"total"`
			Successful int `json:"successful"`
			Failed     int `json:"failed"`
		}{1, 1, 0},
		ClusterName: clusterName,
		NodeMap: map[string]node{id: {
			Name: nodeName, TransportAddress: addr, Host: host, IP: host, Version: h.version(),
			BuildFlavor: "default", BuildType: "docker", BuildHash: buildHash,
			Roles: []string{"data", "ingest", "master"}, Attributes: map[string]string{},
			HTTP: httpInfo{BoundAddress: []string{addr}, PublishAddress: addr, MaxContentLengthInBytes: h.maxRequestBytes()},
		}},
	})
}

// health serves GET /_cluster/health[/...]: green when cdewatch can
// store, red (503) when Ready says it cannot.
func (h *Handler) health(w http.ResponseWriter, r *http.Request) {
	status, code := "green", http.StatusOK
	if h.Ready != nil {
		if err := h.Ready(); err != nil {
			h.log().Warn("elasticsearch health probe: cdewatch cannot store", "err", err)
			status, code = "red", http.StatusServiceUnavailable
		}
	}
	writeValue(w, r, code, struct {
		ClusterName                 string  `json:"cluster_name"`
		Status                      string  `json:"status"`
		TimedOut                    bool    `json:"timed_out"`
		NumberOfNodes               int     `json:"number_of_nodes"`
		NumberOfDataNodes           int     `json:"number_of_data_nodes"`
		ActivePrimaryShards         int     `json:"active_primary_shards"`
		ActiveShards                int     `json:"active_shards"`
		RelocatingShards            int     `json:"relocating_shards"`
		InitializingShards          int     `json:"initializing_shards"`
		UnassignedShards            int     `json:"unassigned_shards"`
		DelayedUnassignedShards     int     `json:"delayed_unassigned_shards"`
		NumberOfPendingTasks        int     `json:"number_of_pending_tasks"`
		NumberOfInFlightFetch       int     `json:"number_of_in_flight_fetch"`
		TaskMaxWaitingInQueueMillis int     `json:"task_max_waiting_in_queue_millis"`
		ActiveShardsPercentAsNumber float64 `json:"active_shards_percent_as_number"`
	}{ClusterName: clusterName, Status: status, NumberOfNodes: 1, NumberOfDataNodes: 1, ActiveShardsPercentAsNumber: 100})
}

// writeValue sends v as JSON.
func writeValue(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, r, http.StatusInternalServerError, "exception", "encoding the answer: "+err.Error())
		return
	}
	writeJSON(w, r, status, append(b, '\n'))
}
