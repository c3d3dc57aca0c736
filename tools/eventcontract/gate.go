package eventcontract

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"

	"github.com/orderflow/orderflow/events/schemas"
)

// Paths of the schemas and of their released snapshot, relative to the repository root.
const (
	SchemasDir  = "events/schemas"
	ReleasedDir = "events/schemas/released"
)

// Problem is one rule of the contract that the schemas break.
type Problem struct {
	File    string
	Message string
}

func (p Problem) String() string { return p.File + ": " + p.Message }

// schemaFile matches a schema file name: <detail-type in kebab case>.json for major 1,
// <...>.v<N>.json for major N >= 2, so a new major lives beside the old one.
var schemaFile = regexp.MustCompile(`^([a-z0-9]+(?:-[a-z0-9]+)*)(?:\.v([0-9]+))?\.json$`)

// version is a parsed "MAJOR.MINOR".
type version struct{ major, minor int }

func parseVersion(s string) (version, error) {
	m := regexp.MustCompile(`^([0-9]+)\.([0-9]+)$`).FindStringSubmatch(s)
	if m == nil {
		return version{}, fmt.Errorf("schemaVersion %q is not MAJOR.MINOR", s)
	}
	maj, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	return version{maj, minor}, nil
}

func (v version) String() string { return fmt.Sprintf("%d.%d", v.major, v.minor) }

// readSchemas returns the *.json files at the top of fsys by name.
func readSchemas(fsys fs.FS) (map[string][]byte, error) {
	names, err := fs.Glob(fsys, "*.json")
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		out[n] = b
	}
	return out, nil
}

// Gate checks the current schema files against the released ones. Consumers were given
// the released files; a change that could break one of them (see Compare) must not be
// made to a released file: it goes into a new file of a new major (order-created.v2.json
// with schemaVersion 2.0), published beside the old one. Besides: every released file
// stays; the major of a file never changes; an additive change raises the minor version;
// a version never goes down; a file's name says its major; a new major is above every
// released one. It returns the problems, sorted (none: the change is safe to release),
// and an error when the files cannot be read.
func Gate(released, current fs.FS) ([]Problem, error) {
	rel, err := readSchemas(released)
	if err != nil {
		return nil, fmt.Errorf("released schemas: %w", err)
	}
	cur, err := readSchemas(current)
	if err != nil {
		return nil, fmt.Errorf("schemas: %w", err)
	}
	var ps []Problem
	add := func(file, format string, args ...any) {
		ps = append(ps, Problem{file, fmt.Sprintf(format, args...)})
	}
	releasedMajor := map[string]int{} // kebab name -> highest released major
	for name, raw := range rel {
		m := schemaFile.FindStringSubmatch(name)
		v, err := schemaVersion(raw)
		if m == nil || err != nil {
			add(name, "released file is not a schema of the contract (%v)", err)
			continue
		}
		releasedMajor[m[1]] = max(releasedMajor[m[1]], v.major)
	}
	for _, name := range unionKeys(cur, rel) {
		old, wasReleased := rel[name]
		raw, exists := cur[name]
		if !exists {
			add(name, "released schema removed: consumers of this detail-type and major would get nothing, or events they cannot read; keep the file (retire a major only after announcing it, then update %s)", ReleasedDir)
			continue
		}
		m := schemaFile.FindStringSubmatch(name)
		if m == nil {
			add(name, "not a schema file name: want <detail-type-in-kebab-case>.json (major 1) or <...>.v<N>.json (major N)")
			continue
		}
		nameMajor := 1
		if m[2] != "" {
			nameMajor, _ = strconv.Atoi(m[2])
		}
		v, err := schemaVersion(raw)
		if err != nil {
			add(name, "%v", err)
			continue
		}
		var ov version
		if wasReleased {
			if ov, err = schemaVersion(old); err != nil {
				add(name, "released: %v", err)
				continue
			}
			if v.major != ov.major {
				add(name, "schemaVersion %s → %s changes the major in place: consumers of %d.x would get events they cannot read; leave this file at %d.x and put a new major in a new file, %s.v%d.json",
					ov, v, ov.major, ov.major, m[1], ov.major+1)
				continue
			}
		}
		if v.major != nameMajor || (m[2] != "" && nameMajor < 2) {
			add(name, "schemaVersion %s does not match the file name, which says major %d", v, nameMajor)
			continue
		}
		if !wasReleased {
			if prev, ok := releasedMajor[m[1]]; ok && v.major <= prev {
				add(name, "a new file for %s must be a new major above the released %d", m[1], prev)
			}
			continue // a new detail-type or a new major: additive for existing consumers
		}
		changes, err := Compare(old, raw)
		if err != nil {
			add(name, "%v", err)
			continue
		}
		var breaking, additive []Change
		for _, c := range changes {
			if c.Breaking {
				breaking = append(breaking, c)
			} else {
				additive = append(additive, c)
			}
		}
		next := fmt.Sprintf("%s.v%d.json", m[1], ov.major+1)
		switch {
		case len(breaking) > 0:
			add(name, "changes that break consumers of %s (released %s):\n%s\nPublish them as a new major instead: a new file %s with schemaVersion %d.0, beside this one", name, ov, joinChanges(breaking), next, ov.major+1)
		case v.minor < ov.minor:
			add(name, "schemaVersion %s is below the released %s", v, ov)
		case len(additive) > 0 && v.minor == ov.minor:
			add(name, "additive changes without a new minor schemaVersion (released %s; want %d.%d):\n%s", ov, ov.major, ov.minor+1, joinChanges(additive))
		}
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].File < ps[j].File })
	return ps, nil
}

func schemaVersion(raw []byte) (version, error) {
	s, err := schemas.VersionOf(raw)
	if err != nil {
		return version{}, err
	}
	return parseVersion(s)
}

// Release makes the current schemas the released baseline (the files under ReleasedDir
// that the gate compares with), below root. It refuses, returning the problems, when
// the gate fails: a breaking change cannot be released over the old file.
func Release(root string) ([]Problem, error) {
	ps, err := Gate(os.DirFS(filepath.Join(root, ReleasedDir)), os.DirFS(filepath.Join(root, SchemasDir)))
	if err != nil || len(ps) > 0 {
		return ps, err
	}
	cur, err := readSchemas(os.DirFS(filepath.Join(root, SchemasDir)))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(root, ReleasedDir), 0o755); err != nil {
		return nil, err
	}
	for name, raw := range cur {
		if err := os.WriteFile(filepath.Join(root, ReleasedDir, name), raw, 0o644); err != nil {
			return nil, err
		}
	}
	return nil, nil
}
