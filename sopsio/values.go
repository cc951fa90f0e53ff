package sopsio

import (
	"fmt"
	"strconv"
	"time"

	"filippo.io/age"
	"github.com/getsops/sops/v3"
)

// DecryptValues decrypts the SOPS document data read from path (its format is
// taken from the extension, see FormatForPath) and returns its flat map of
// keys to values, without the sops metadata. YAML and JSON values must be
// scalars: numbers and booleans become their text form, null becomes "";
// nested maps and lists are rejected with an error naming the key. Failures
// are *Error with Path set.
func DecryptValues(data []byte, path string, ids []age.Identity) (map[string]string, error) {
	tree, _, e := decrypt(data, FormatForPath(path), ids)
	if e != nil {
		e.Path = path
		return nil, e
	}
	values, err := flatValues(tree.Branches)
	if err != nil {
		return nil, &Error{Reason: ReasonMalformed, Path: path, Err: err, op: "read values from"}
	}
	return values, nil
}

func flatValues(branches sops.TreeBranches) (map[string]string, error) {
	if len(branches) != 1 {
		return nil, fmt.Errorf("it holds %d YAML documents; want exactly one flat mapping", len(branches))
	}
	values := map[string]string{}
	for i, item := range branches[0] {
		if _, ok := item.Key.(sops.Comment); ok {
			continue
		}
		key, ok := item.Key.(string)
		if !ok {
			return nil, fmt.Errorf("entry %d has a key of type %T; want string keys", i+1, item.Key)
		}
		if _, dup := values[key]; dup {
			return nil, fmt.Errorf("key %q appears more than once", key)
		}
		var s string
		switch v := item.Value.(type) {
		case string:
			s = v
		case nil:
			s = ""
		case int:
			s = strconv.Itoa(v)
		case float64:
			s = strconv.FormatFloat(v, 'f', -1, 64)
		case bool:
			s = strconv.FormatBool(v)
		case time.Time:
			s = v.Format(time.RFC3339Nano)
		case []byte:
			s = string(v)
		case sops.TreeBranch:
			return nil, fmt.Errorf("key %q holds a nested mapping; the values file must map each key to a string", key)
		case []any:
			return nil, fmt.Errorf("key %q holds a list; the values file must map each key to a string", key)
		default:
			return nil, fmt.Errorf("key %q holds a value of unsupported type %T; want a string", key, v)
		}
		values[key] = s
	}
	return values, nil
}
