// Package deploy holds cdewatch's deployment artefacts and the tests that
// check them: Kubernetes manifests as a kustomize base and overlays
// (kustomize/), a Helm chart producing the same objects (helm/cdewatch),
// the kube-apiserver side of the audit webhook (kube-apiserver/) and a
// hardened systemd unit (systemd/). docs/DEPLOY.md is the guide. The
// package has no Go API; its tests render every overlay and chart variant
// in-process, decode each object strictly into the Kubernetes API types and
// check security, probes, storage, network policy and the embedded cdewatch
// configuration.
package deploy
