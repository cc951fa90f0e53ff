package composeio

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"unicode/utf8"

	"github.com/compose-spec/compose-go/v2/cli"
	interp "github.com/compose-spec/compose-go/v2/interpolation"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/tree"
	"github.com/compose-spec/compose-go/v2/types"
)

// A probe (a load with canaries, compared with the project Load returned) must give exactly what a full
// load gives for the same environment, or a difference could be missed or invented. Most of a load's CPU is
// compose-go matching paths against patterns, and a third of that is interpolation: after substituting
// every string value, compose-go looks for a type cast (ports, booleans, counts…) by matching the value's
// path against each of its ~70 cast patterns. A pattern can only match a path whose parts include each of
// its literal parts ("services.*.healthcheck.retries": "healthcheck" and "retries"), and every part of a
// path is (part of) a mapping key of the file being interpolated. So a pattern with a literal part that
// appears nowhere in the text of the compose files matches nothing, and the probe can leave it out of its
// cast mapping: compose-go then casts exactly what it casts with the full mapping, with fewer patterns to
// try on every value. The main load keeps compose-go's own mapping.
//
// That a key appears verbatim in the text holds for plain, single-quoted, block and flow scalars, anchors,
// aliases and merge keys. It does not hold for an escape in a double-quoted scalar (`"t\x74y"`), a
// `!!binary` key (base64), a tag written another way (`!<…>`, `%TAG`, percent-encoding in `!!…`), or a file
// in UTF-16/32: a file with `\`, `!!`, `!<`, `%TAG`, a NUL byte or invalid UTF-8 keeps the full mapping. So
// does a project whose files can pull in other files (`include`, `extends`: compose-go interpolates those
// with the same mapping, and their text is not read here).

// probeCasts returns the cast mapping for a probe of files: compose-go's own without the patterns that can
// match no path of files, and the contents it was decided from; ok is false when the full mapping must be
// used.
func probeCasts(files []string) (casts map[tree.Path]interp.Cast, contents [][]byte, ok bool) {
	full := composeCasts()
	if full == nil {
		return nil, nil, false
	}
	for _, f := range files {
		data, err := readBounded(f)
		if err != nil || !keysVerbatim(data) {
			return nil, nil, false
		}
		contents = append(contents, data)
	}
	casts = map[tree.Path]interp.Cast{}
	for pattern, cast := range full {
		if literalPartsIn(pattern, contents) {
			casts[pattern] = cast
		}
	}
	return casts, contents, true
}

// composeCasts returns compose-go's own cast mapping, as its loader sets it up for every load.
func composeCasts() map[tree.Path]interp.Cast {
	opts := loader.ToOptions(&types.ConfigDetails{}, nil)
	if opts.Interpolate == nil {
		return nil
	}
	return opts.Interpolate.TypeCastMapping
}

// keysVerbatim reports whether every mapping key of a YAML file appears as it is in the text (see above),
// and that the file pulls in no other file.
func keysVerbatim(data []byte) bool {
	if !utf8.Valid(data) || bytes.IndexByte(data, 0) >= 0 {
		return false
	}
	for _, s := range []string{`\`, "!!", "!<", "%TAG", "include", "extends"} {
		if bytes.Contains(data, []byte(s)) {
			return false
		}
	}
	return true
}

// literalPartsIn reports whether each literal part of pattern appears in one of contents.
func literalPartsIn(pattern tree.Path, contents [][]byte) bool {
	for _, part := range pattern.Parts() {
		if part == tree.PathMatchAll || part == tree.PathMatchList {
			continue
		}
		found := false
		for _, c := range contents {
			if bytes.Contains(c, []byte(part)) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxInputSize+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > MaxInputSize {
		return nil, fmt.Errorf("%s is over the input limit", path)
	}
	return data, nil
}

// loadProbe loads the project with the overrides, as load does, with the pruned cast mapping when it is
// safe (see probeCasts). The files are read again afterwards: when one changed, compose-go may have read a
// text the mapping was not decided from, and the probe is loaded again with the full mapping.
func (p *Project) loadProbe(ctx context.Context, overrides map[string]string) (*types.Project, error) {
	casts, contents, ok := probeCasts(p.files)
	if !ok || p.fullCasts {
		return p.load(ctx, overrides)
	}
	p.prunedLoads.Add(1)
	tp, err := p.loadWith(ctx, overrides, nil, withCasts(casts))
	if err != nil {
		return nil, err
	}
	if p.afterPrunedLoad != nil {
		p.afterPrunedLoad()
	}
	for i, f := range p.files {
		if data, err := readBounded(f); err != nil || !bytes.Equal(data, contents[i]) {
			return p.load(ctx, overrides)
		}
	}
	return tp, nil
}

// loadMain loads the project itself with the pruned cast mapping when it is safe: compose-go converts
// exactly the values it would with its full mapping (the patterns left out name keys the files do not
// spell), so the project is the one `docker compose config` sees — TestProbeCastsLoadsWhatTheFullMappingLoads
// checks that it is identical — at about half the cost of matching every value's path against every
// pattern. A file edited during the load makes it load again with the full mapping, as loadProbe does.
func (p *Project) loadMain(ctx context.Context, listener func(string, map[string]any)) (*types.Project, error) {
	casts, contents, ok := probeCasts(p.files)
	if !ok || p.fullCasts {
		return p.loadWith(ctx, nil, listener)
	}
	tp, err := p.loadWith(ctx, nil, listener, withCasts(casts))
	if err != nil {
		return nil, err
	}
	for i, f := range p.files {
		if data, err := readBounded(f); err != nil || !bytes.Equal(data, contents[i]) {
			return p.loadWith(ctx, nil, listener)
		}
	}
	return tp, nil
}

// withCasts sets the cast mapping of compose-go's interpolation, keeping its lookup and substitution.
func withCasts(casts map[tree.Path]interp.Cast) cli.ProjectOptionsFn {
	return cli.WithLoadOptions(func(o *loader.Options) {
		if o.Interpolate == nil {
			return // interpolation is off: nothing to cast
		}
		io := *o.Interpolate
		io.TypeCastMapping = casts
		o.Interpolate = &io
	})
}
