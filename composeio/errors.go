package composeio

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/template"
)

// compose-go's errors may echo interpolated values (cast errors, dotenv syntax errors, `${X:?msg}` reasons,
// validation messages). Load never passes them through verbatim: known shapes are rephrased without the
// value, and whatever is left is scrubbed of every value of the project environment.

const redacted = "[redacted]"

// minScrubLen is the shortest value scrubbed from messages that are passed through: shorter values ("1",
// "on") would mangle line numbers and words without protecting anything worth protecting.
const minScrubLen = 3

var (
	reDotenvLine       = regexp.MustCompile(`line (\d+): (unterminated quoted value|unexpected character|key cannot contain a space)`)
	reInterpolatingFor = regexp.MustCompile(`^invalid interpolation format for ([^\n]*?)\.\n`)
)

// loadError turns a compose-go load error into a lowercase error that names the file and holds no value.
func (p *Project) loadError(err error, env map[string]string) error {
	var parts []string
	for _, leaf := range leaves(err) {
		msg, known := p.describe(leaf)
		if !known {
			msg = scrubTokens(msg, env, p.dir)
		}
		parts = append(parts, scrub(msg, env, p.dir))
	}
	parts = slices.Compact(parts)
	return fmt.Errorf("failed to load compose file %s: %s", strings.Join(p.files, ", "), lowerFirst(strings.Join(parts, "; ")))
}

// describe returns a value-free description of one compose-go error, and whether it recognised the error
// (an unrecognised error is returned as is, for the caller to scrub).
func (p *Project) describe(err error) (string, bool) {
	msg := err.Error()

	var missing *template.MissingRequiredError
	if errors.As(err, &missing) {
		where := ""
		if path := interpolationPath(msg, missing); path != "" {
			where = " (in " + path + ")"
		}
		if file := failedToRead(msg); file != "" {
			where = " (in " + file + ")"
		}
		// The reason is itself interpolated and may hold a value: it is left out.
		return fmt.Sprintf("variable %s: required variable is missing a value%s", missing.Variable, where), true
	}
	var invalid *template.InvalidTemplateError
	if errors.As(err, &invalid) {
		if m := reInterpolatingFor.FindStringSubmatch(msg); m != nil {
			return fmt.Sprintf("invalid interpolation format in %s", m[1]), true
		}
		if file := failedToRead(msg); file != "" {
			return fmt.Sprintf("failed to parse %s: invalid interpolation format", file), true
		}
		return "invalid interpolation format", true
	}
	if rest, ok := strings.CutPrefix(msg, "error while interpolating "); ok && strings.Contains(rest, "failed to cast to expected type") {
		path, _, _ := strings.Cut(rest, ": ")
		return fmt.Sprintf("%s: interpolated value does not have the expected type", path), true
	}
	if rest, ok := strings.CutPrefix(msg, "dependency cycle detected: "); ok {
		return "cyclic depends_on: " + rest, true
	}
	if file := failedToRead(msg); file != "" {
		return fmt.Sprintf("failed to parse %s: %s", file, redactDotenvError(err)), true
	}
	return msg, false
}

// failedToRead returns FILE when msg is dotenv's "failed to read FILE: ..." error.
func failedToRead(msg string) string {
	rest, ok := strings.CutPrefix(msg, "failed to read ")
	if !ok {
		return ""
	}
	file, _, ok := strings.Cut(rest, ": ")
	if !ok {
		return ""
	}
	return file
}

func interpolationPath(msg string, inner error) string {
	rest, ok := strings.CutPrefix(msg, "error while interpolating ")
	if !ok {
		return ""
	}
	path, ok := strings.CutSuffix(rest, ": "+inner.Error())
	if !ok {
		return ""
	}
	return path
}

// redactDotenvError describes a dotenv parse error by line and kind only: the parser echoes the offending
// line, value included.
func redactDotenvError(err error) string {
	var missing *template.MissingRequiredError
	if errors.As(err, &missing) {
		return fmt.Sprintf("variable %s: required variable is missing a value", missing.Variable)
	}
	var invalid *template.InvalidTemplateError
	if errors.As(err, &invalid) {
		return "invalid interpolation format"
	}
	msg := err.Error()
	if m := reDotenvLine.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("line %s: %s", m[1], m[2])
	}
	if strings.Contains(msg, "unsupported env_file format") {
		return "unsupported env_file format"
	}
	if strings.Contains(msg, "zero length string") {
		return "empty variable name"
	}
	return "invalid syntax"
}

// leaves flattens joined errors (compose-go joins one error per failing value) into their members.
func leaves(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leaves(e)...)
		}
		return out
	}
	if inner := errors.Unwrap(err); inner != nil && hasJoin(inner) {
		return leaves(inner)
	}
	return []error{err}
}

func hasJoin(err error) bool {
	for err != nil {
		if _, ok := err.(interface{ Unwrap() []error }); ok {
			return true
		}
		err = errors.Unwrap(err)
	}
	return false
}

// scrubValues returns the values of env worth scrubbing: long enough, and not compose's own settings
// (COMPOSE_PROJECT_NAME holds the project name, which appears in paths).
func scrubValues(env map[string]string) []string {
	var vals []string
	for k, v := range env {
		if len(v) < minScrubLen || strings.HasPrefix(k, "COMPOSE_") {
			continue
		}
		vals = append(vals, v)
		if q := strconv.Quote(v); q[1:len(q)-1] != v {
			vals = append(vals, q[1:len(q)-1])
		}
	}
	slices.SortFunc(vals, func(a, b string) int { return len(b) - len(a) })
	return vals
}

// protect replaces keep in msg with a placeholder while fn runs, so that a value that happens to be part of
// the project path does not mangle file names.
func protect(msg, keep string, fn func(string) string) string {
	const placeholder = "\x00dir\x00"
	if keep == "" {
		return fn(msg)
	}
	return strings.ReplaceAll(fn(strings.ReplaceAll(msg, keep, placeholder)), placeholder, keep)
}

// scrub replaces every value of env found in msg, raw or quoted, longest first.
func scrub(msg string, env map[string]string, keep string) string {
	vals := scrubValues(env)
	return protect(msg, keep, func(msg string) string {
		for _, v := range vals {
			msg = strings.ReplaceAll(msg, v, redacted)
		}
		return msg
	})
}

var reToken = regexp.MustCompile("[^\\s\"'`,;:=()\\[\\]{}<>]+")

// scrubTokens also redacts fragments of values: every word of at least four characters that is part of a
// value (compose-go sometimes echoes only part of a value, e.g. `parsing "abc"` for "abc-def").
func scrubTokens(msg string, env map[string]string, keep string) string {
	vals := scrubValues(env)
	return protect(msg, keep, func(msg string) string {
		return reToken.ReplaceAllStringFunc(msg, func(tok string) string {
			t := strings.Trim(tok, ".")
			if len(t) < 4 || t == strings.Trim(redacted, "[]") {
				return tok
			}
			for _, v := range vals {
				if strings.Contains(v, t) {
					return strings.Replace(tok, t, redacted, 1)
				}
			}
			return tok
		})
	})
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	if len(r) > 1 && r[1] >= 'A' && r[1] <= 'Z' { // an acronym: leave it
		return s
	}
	return strings.ToLower(string(r[:1])) + string(r[1:])
}
