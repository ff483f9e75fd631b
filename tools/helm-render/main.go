// helm-render renders a Helm chart the way `helm template` does, without helm: Go's
// text/template with the sprig function library (Helm's own template engine) plus the functions
// Helm adds (include, tpl, required, toYaml, fromYaml, toJson, fromJson, lookup).
// There is no helm binary or cluster on our machines, so CI renders helm/teredo-fleet with this
// and validates the output (tools/check-helm.py).
//
//	helm-render -chart DIR [-f values.yaml ...] [-release NAME] [-namespace NS]
//
// Values: the chart's values.yaml, then each -f file merged over it (maps merge key by key,
// anything else replaces), as Helm does. lookup returns an empty map, as in `helm template`.
// Output: every non-empty rendered template, in file-name order, as YAML documents separated by
// "---" with a "# Source:" comment. Exit status 1 with the template's error on any failure.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	sprig "github.com/Masterminds/sprig/v3"
	yaml "gopkg.in/yaml.v3"
)

type valueFiles []string

func (v *valueFiles) String() string     { return strings.Join(*v, ",") }
func (v *valueFiles) Set(s string) error { *v = append(*v, s); return nil }

// files gives templates .Files.Get, relative to the chart directory.
type files struct{ root string }

func (f files) Get(name string) string {
	b, err := os.ReadFile(filepath.Join(f.root, filepath.Clean("/"+name)))
	if err != nil {
		return ""
	}
	return string(b)
}

func readYAML(path string) (map[string]interface{}, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]interface{}{}
	if err := yaml.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// merge returns base with over merged in (Helm's coalescing for user-supplied values).
func merge(base, over map[string]interface{}) map[string]interface{} {
	out := map[string]interface{}{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		bm, bok := out[k].(map[string]interface{})
		om, ook := v.(map[string]interface{})
		if bok && ook {
			out[k] = merge(bm, om)
		} else {
			out[k] = v
		}
	}
	return out
}

func toYAML(v interface{}) string {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func fromYAML(s string) map[string]interface{} {
	out := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(s), &out); err != nil {
		out["Error"] = err.Error()
	}
	return out
}

func main() {
	chart := flag.String("chart", "", "chart directory")
	release := flag.String("release", "teredo", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	var overrides valueFiles
	flag.Var(&overrides, "f", "values file merged over the chart's values.yaml (repeatable)")
	notes := flag.String("notes", "", "write the rendered templates/NOTES.txt here (not a manifest)")
	flag.Parse()
	if *chart == "" {
		fmt.Fprintln(os.Stderr, "helm-render: -chart is required")
		os.Exit(2)
	}
	if err := run(*chart, *release, *namespace, overrides, *notes); err != nil {
		fmt.Fprintln(os.Stderr, "helm-render:", err)
		os.Exit(1)
	}
}

func run(chartDir, release, namespace string, overrides []string, notesPath string) error {
	meta, err := readYAML(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return err
	}
	values, err := readYAML(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return err
	}
	for _, f := range overrides {
		o, err := readYAML(f)
		if err != nil {
			return err
		}
		values = merge(values, o)
	}
	name, _ := meta["name"].(string)
	chartObj := map[string]interface{}{
		"Name": name, "Version": meta["version"], "AppVersion": meta["appVersion"],
		"Description": meta["description"],
	}

	paths, err := filepath.Glob(filepath.Join(chartDir, "templates", "*"))
	if err != nil {
		return err
	}
	sort.Strings(paths)
	root := template.New("chart").Option("missingkey=zero")
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	funcs["toYaml"] = toYAML
	funcs["fromYaml"] = fromYAML
	funcs["toJson"] = func(v interface{}) string { b, _ := json.Marshal(v); return string(b) }
	funcs["fromJson"] = func(s string) map[string]interface{} {
		out := map[string]interface{}{}
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			out["Error"] = err.Error()
		}
		return out
	}
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return nil, errors.New(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return nil, errors.New(msg)
		}
		return v, nil
	}
	funcs["lookup"] = func(string, string, string, string) map[string]interface{} {
		return map[string]interface{}{}
	}
	funcs["include"] = func(string, interface{}) (string, error) { return "", nil }
	funcs["tpl"] = func(string, interface{}) (string, error) { return "", nil }
	root.Funcs(funcs)
	// include and tpl need the template set itself.
	root.Funcs(template.FuncMap{
		"include": func(name string, data interface{}) (string, error) {
			var buf bytes.Buffer
			err := root.ExecuteTemplate(&buf, name, data)
			return buf.String(), err
		},
		"tpl": func(text string, data interface{}) (string, error) {
			t, err := root.Clone()
			if err != nil {
				return "", err
			}
			t, err = t.New("tpl").Parse(text)
			if err != nil {
				return "", err
			}
			var buf bytes.Buffer
			err = t.Execute(&buf, data)
			return buf.String(), err
		},
	})
	var rendered []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		tname := filepath.Join(name, "templates", filepath.Base(p))
		if _, err := root.New(tname).Parse(string(b)); err != nil {
			return err
		}
		if !strings.HasPrefix(filepath.Base(p), "_") {
			rendered = append(rendered, tname)
		}
	}
	var out strings.Builder
	for _, tname := range rendered {
		top := map[string]interface{}{
			"Values":  values,
			"Chart":   chartObj,
			"Release": map[string]interface{}{"Name": release, "Namespace": namespace, "Service": "Helm", "IsInstall": true, "IsUpgrade": false, "Revision": 1},
			"Template": map[string]interface{}{
				"Name": tname, "BasePath": filepath.Join(name, "templates"),
			},
			"Files":        files{root: chartDir},
			"Capabilities": map[string]interface{}{"KubeVersion": map[string]interface{}{"Version": "v1.28.0", "Major": "1", "Minor": "28"}},
		}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, tname, top); err != nil {
			return err
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if filepath.Base(tname) == "NOTES.txt" {
			// Helm prints NOTES.txt after an install; it is not part of the manifest.
			if notesPath != "" {
				if err := os.WriteFile(notesPath, []byte(text), 0o644); err != nil {
					return err
				}
			}
			continue
		}
		for _, doc := range strings.Split(text, "\n---") {
			doc = strings.TrimSpace(strings.TrimPrefix(doc, "---"))
			if doc == "" {
				continue
			}
			fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", tname, doc)
		}
	}
	_, err = os.Stdout.WriteString(out.String())
	return err
}
