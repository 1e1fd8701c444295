package deploy_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	sigsyaml "sigs.k8s.io/yaml"
)

// Where the artefacts are, relative to this package.
const (
	kustomizeDir = "kustomize"
	chartDir     = "helm/cdewatch"
)

// variant is one way of producing the manifests: a kustomize directory or
// the chart with a values file. Variants with the same twin render the
// same objects (TestHelmMatchesKustomize).
type variant struct {
	name   string
	render func(testing.TB) ([][]byte, error)
	twin   string
}

// variants are every kustomize build and chart rendering shipped.
func variants() []variant {
	k := func(dir string) func(testing.TB) ([][]byte, error) {
		return func(tb testing.TB) ([][]byte, error) { return kustomizeBuild(tb, filepath.Join(kustomizeDir, dir)) }
	}
	h := func(values string) func(testing.TB) ([][]byte, error) {
		return func(tb testing.TB) ([][]byte, error) {
			if values != "" {
				values = filepath.Join(chartDir, "ci", values)
			}
			return helmTemplate(tb, chartDir, values)
		}
	}
	return []variant{
		{name: "kustomize/base", render: k("base"), twin: "base"},
		{name: "kustomize/overlays/aks", render: k("overlays/aks"), twin: "aks"},
		{name: "kustomize/overlays/self-managed", render: k("overlays/self-managed"), twin: "self-managed"},
		{name: "helm/default", render: h(""), twin: "base"},
		{name: "helm/ci/aks-values.yaml", render: h("aks-values.yaml"), twin: "aks"},
		{name: "helm/ci/self-managed-values.yaml", render: h("self-managed-values.yaml"), twin: "self-managed"},
	}
}

// kustomizeBuild runs `kustomize build dir` in-process and returns the
// YAML documents.
func kustomizeBuild(tb testing.TB, dir string) ([][]byte, error) {
	tb.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	y, err := m.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: render YAML: %w", dir, err)
	}
	return splitYAML(y)
}

// helmTemplate renders the chart as `helm template cdewatch chart
// --namespace cdewatch [-f values]` does and returns the YAML documents of
// every template but NOTES.txt, which must render too.
func helmTemplate(tb testing.TB, chart, valuesFile string) ([][]byte, error) {
	tb.Helper()
	ch, err := loader.Load(chart)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", chart, err)
	}
	vals := map[string]any{}
	if valuesFile != "" {
		v, err := chartutil.ReadValuesFile(valuesFile)
		if err != nil {
			return nil, fmt.Errorf("read values %s: %w", valuesFile, err)
		}
		vals = v
	}
	opts := chartutil.ReleaseOptions{Name: "cdewatch", Namespace: "cdewatch", Revision: 1, IsInstall: true}
	rv, err := chartutil.ToRenderValues(ch, vals, opts, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, fmt.Errorf("chart values: %w", err)
	}
	// Strict: a template reading a value that does not exist is an error.
	out, err := engine.Engine{Strict: true}.Render(ch, rv)
	if err != nil {
		return nil, fmt.Errorf("render chart: %w", err)
	}
	names := make([]string, 0, len(out))
	for n := range out {
		names = append(names, n)
	}
	sort.Strings(names)
	var docs [][]byte
	for _, n := range names {
		if strings.HasSuffix(n, "NOTES.txt") {
			if strings.TrimSpace(out[n]) == "" {
				return nil, fmt.Errorf("%s rendered empty", n)
			}
			continue
		}
		d, err := splitYAML([]byte(out[n]))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		docs = append(docs, d...)
	}
	return docs, nil
}

// splitYAML splits a multi-document stream, dropping documents that hold
// only comments or whitespace.
func splitYAML(b []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	var docs [][]byte
	for {
		d, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("split YAML documents: %w", err)
		}
		var v any
		if err := sigsyaml.Unmarshal(d, &v); err != nil {
			return nil, fmt.Errorf("parse YAML document: %w\n%s", err, d)
		}
		if v != nil {
			docs = append(docs, d)
		}
	}
}

// decoder decodes the API types a cdewatch deployment may contain, strictly:
// an unknown or duplicated field is an error, so a misspelt or misplaced
// key cannot be silently ignored by the API server.
func decoder() runtime.Decoder {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, networkingv1.AddToScheme, policyv1.AddToScheme, storagev1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return serializer.NewCodecFactory(s, serializer.EnableStrict).UniversalDeserializer()
}

// decodeAll decodes the documents into a bundle.
func decodeAll(name string, docs [][]byte) (*bundle, error) {
	dec := decoder()
	b := &bundle{name: name}
	var errs []error
	for _, d := range docs {
		obj, gvk, err := dec.Decode(d, nil, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("decode:\n%s\n: %w", d, err))
			continue
		}
		if err := b.add(obj); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", gvk, err))
		}
	}
	return b, errors.Join(errs...)
}
