package testenv

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Managers maps each field manager of an object to the paths of the fields
// it owns, dotted from the top: "spec", "spec.kill", "metadata.labels.team",
// "status.state".
type Managers map[string]map[string]bool

// ManagedFields reads obj's managedFields for one subresource ("" for the
// object itself, "status" for its status). Read obj from the API server,
// not from a cache that strips managed fields.
func ManagedFields(obj client.Object, subresource string) (Managers, error) {
	out := Managers{}
	for _, e := range obj.GetManagedFields() {
		if e.Subresource != subresource || e.FieldsV1 == nil {
			continue
		}
		var tree map[string]any
		if err := json.Unmarshal(e.FieldsV1.Raw, &tree); err != nil {
			return nil, fmt.Errorf("managedFields of %s: %w", e.Manager, err)
		}
		if out[e.Manager] == nil {
			out[e.Manager] = map[string]bool{}
		}
		walkFields(tree, "", out[e.Manager])
	}
	return out, nil
}

// walkFields adds the paths of a FieldsV1 tree under prefix to paths: "f:"
// members by name, list items ("k:", "v:") by their key as written.
func walkFields(tree map[string]any, prefix string, paths map[string]bool) {
	for k, v := range tree {
		if k == "." {
			continue
		}
		name := strings.TrimPrefix(k, "f:")
		if prefix != "" {
			name = prefix + "." + name
		}
		paths[name] = true
		if sub, ok := v.(map[string]any); ok {
			walkFields(sub, name, paths)
		}
	}
}

// Owners returns the managers that own path.
func (m Managers) Owners(path string) []string {
	var out []string
	for manager, fields := range m {
		if fields[path] {
			out = append(out, manager)
		}
	}
	sort.Strings(out)
	return out
}

// String lists each manager's fields, sorted, for a failure message.
func (m Managers) String() string {
	var b strings.Builder
	managers := make([]string, 0, len(m))
	for manager := range m {
		managers = append(managers, manager)
	}
	sort.Strings(managers)
	for _, manager := range managers {
		fields := make([]string, 0, len(m[manager]))
		for f := range m[manager] {
			fields = append(fields, f)
		}
		sort.Strings(fields)
		fmt.Fprintf(&b, "%s: %s; ", manager, strings.Join(fields, ", "))
	}
	return b.String()
}
