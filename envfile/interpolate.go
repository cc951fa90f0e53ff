package envfile

// This file ports the variable substitution of compose-go
// (github.com/compose-spec/compose-go/v2/template, Apache-2.0, Copyright 2020
// The Compose Specification Authors) without its logging, so that Get
// resolves unquoted and double-quoted values exactly as compose does. The
// tests compare it with compose-go.

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

const (
	groupEscaped = "escaped"
	groupNamed   = "named"
	groupBraced  = "braced"
)

var templatePattern = regexp.MustCompile(fmt.Sprintf(
	"%s(?i:(?P<%s>%s)|(?P<%s>%s)|{(?:(?P<%s>%s)}|(?P<%s>)))",
	`\$`,
	groupEscaped, `\$`,
	groupNamed, "[_a-z][_a-z0-9]*",
	groupBraced, "[_a-z][_a-z0-9]*(?::?[-+?](.*))?",
	"invalid",
))

type mapping func(string) (string, bool)

type substituteFunc func(string, mapping) (string, bool, error)

var (
	errInvalidTemplate = errors.New("invalid interpolation")
	errMissingRequired = errors.New("required variable is missing a value")
)

// substitute replaces $$, $NAME and ${...} like compose-go's
// template.Substitute. On error it returns the partial result and the first
// error, as compose-go does.
func substitute(template string, m mapping) (string, error) {
	var firstErr error
	result := templatePattern.ReplaceAllStringFunc(template, func(substring string) string {
		replacement, err := replace(substring, m)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return replacement
	})
	return result, firstErr
}

func replace(substring string, m mapping) (string, error) {
	_, subsFunc := substitutionFunctionFor(substring)

	closing := firstBraceClosingIndex(substring)
	rest := ""
	if closing > -1 {
		rest = substring[closing+1:]
		substring = substring[:closing+1]
	}

	matches := templatePattern.FindStringSubmatch(substring)
	groups := map[string]string{}
	for i, name := range templatePattern.SubexpNames()[1:] {
		if matches != nil {
			groups[name] = matches[i+1]
		}
	}
	if escaped := groups[groupEscaped]; escaped != "" {
		return escaped, nil
	}

	braced := false
	substitution := groups[groupNamed]
	if substitution == "" {
		substitution = groups[groupBraced]
		braced = true
	}
	if substitution == "" {
		return "", errInvalidTemplate
	}

	if braced {
		value, applied, err := subsFunc(substitution, m)
		if err != nil {
			return "", err
		}
		if applied {
			nested, err := substitute(rest, m)
			if err != nil {
				return "", err
			}
			return value + nested, nil
		}
	}

	value, _ := m(substitution)
	return value, nil
}

func substitutionFunctionFor(template string) (string, substituteFunc) {
	candidates := []struct {
		sep string
		fn  substituteFunc
	}{
		{":?", requiredErrorWhenEmptyOrUnset},
		{"?", requiredErrorWhenUnset},
		{":-", defaultWhenEmptyOrUnset},
		{"-", defaultWhenUnset},
		{":+", defaultWhenNotEmpty},
		{"+", defaultWhenSet},
	}
	sort.Slice(candidates, func(i, j int) bool {
		idxI := strings.Index(template, candidates[i].sep)
		idxJ := strings.Index(template, candidates[j].sep)
		if idxI < 0 {
			return false
		}
		if idxJ < 0 {
			return true
		}
		return idxI < idxJ
	})
	return candidates[0].sep, candidates[0].fn
}

func firstBraceClosingIndex(s string) int {
	open := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '}' {
			open--
			if open == 0 {
				return i
			}
		}
		if s[i] == '{' {
			open++
			i++
		}
	}
	return -1
}

func defaultWhenEmptyOrUnset(s string, m mapping) (string, bool, error) {
	return withDefaultWhenAbsence(s, m, true)
}

func defaultWhenUnset(s string, m mapping) (string, bool, error) {
	return withDefaultWhenAbsence(s, m, false)
}

func defaultWhenNotEmpty(s string, m mapping) (string, bool, error) {
	return withDefaultWhenPresence(s, m, true)
}

func defaultWhenSet(s string, m mapping) (string, bool, error) {
	return withDefaultWhenPresence(s, m, false)
}

func requiredErrorWhenEmptyOrUnset(s string, m mapping) (string, bool, error) {
	return withRequired(s, m, ":?", func(v string) bool { return v != "" })
}

func requiredErrorWhenUnset(s string, m mapping) (string, bool, error) {
	return withRequired(s, m, "?", func(string) bool { return true })
}

func withDefaultWhenPresence(substitution string, m mapping, notEmpty bool) (string, bool, error) {
	sep := "+"
	if notEmpty {
		sep = ":+"
	}
	if !strings.Contains(substitution, sep) {
		return "", false, nil
	}
	name, defaultValue := partition(substitution, sep)
	value, ok := m(name)
	if ok && (!notEmpty || value != "") {
		v, err := substitute(defaultValue, m)
		if err != nil {
			return "", false, err
		}
		return v, true, nil
	}
	return value, true, nil
}

func withDefaultWhenAbsence(substitution string, m mapping, emptyOrUnset bool) (string, bool, error) {
	sep := "-"
	if emptyOrUnset {
		sep = ":-"
	}
	if !strings.Contains(substitution, sep) {
		return "", false, nil
	}
	name, defaultValue := partition(substitution, sep)
	value, ok := m(name)
	if !ok || (emptyOrUnset && value == "") {
		v, err := substitute(defaultValue, m)
		if err != nil {
			return "", false, err
		}
		return v, true, nil
	}
	return value, true, nil
}

func withRequired(substitution string, m mapping, sep string, valid func(string) bool) (string, bool, error) {
	if !strings.Contains(substitution, sep) {
		return "", false, nil
	}
	name, message := partition(substitution, sep)
	value, ok := m(name)
	if !ok || !valid(value) {
		if _, err := substitute(message, m); err != nil {
			return "", false, err
		}
		return "", true, errMissingRequired
	}
	return value, true, nil
}

func partition(s, sep string) (string, string) {
	before, after, _ := strings.Cut(s, sep)
	return before, after
}
