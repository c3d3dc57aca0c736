package security

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// secretRule is one kind of secret: a pattern whose group 1 (or the whole match) is the
// secret value.
type secretRule struct {
	name string
	re   *regexp.Regexp
}

var secretRules = []secretRule{
	{"AWS access key id", regexp.MustCompile(`\b((?:AKIA|ASIA)[0-9A-Z]{16})\b`)},
	{"AWS secret access key", regexp.MustCompile(`(?i)aws_?secret_?access_?key["']?\s*[:=]\s*["']?([A-Za-z0-9/+=]{40})(?:[^A-Za-z0-9/+=]|$)`)},
	{"private key", regexp.MustCompile(`(-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)`)},
	{"password", regexp.MustCompile(`(?i)\b(?:password|passwd|pwd)["']?\s*[:=]\s*["']?([^\s"'` + "`" + `,;(){}<>$%*=][^\s"'` + "`" + `,;(){}]{3,})`)},
}

// allowedValues are secret-shaped values that are not secrets: the credentials every
// emulator accepts (moto, LocalStack: "test"/"test"), AWS's documentation examples, and
// the proverbial fake password of pkg/logging's redaction test. Add to it only values that
// are public by nature, with where they are used.
var allowedValues = map[string]bool{
	"test":                 true,
	"hunter2":              true,
	"AKIAIOSFODNN7EXAMPLE": true,
	"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY": true,
}

// secretFileNames are files that hold keys or credentials whatever their content.
var secretFileNames = regexp.MustCompile(`(?i)(^|/)(\.env(\..+)?|id_(rsa|dsa|ecdsa|ed25519)|credentials|.+\.(pem|key|p12|pfx|jks|keystore))$`)

// finding is one secret found: where and which rule (never the value itself, so a test
// failure does not print the secret once more).
type finding struct {
	file string
	line int
	rule string
}

func (f finding) String() string { return fmt.Sprintf("%s:%d: %s", f.file, f.line, f.rule) }

// scan returns the secrets in one file's content.
func scan(name string, content []byte) []finding {
	var out []finding
	if secretFileNames.MatchString(name) {
		out = append(out, finding{file: name, rule: "file that holds keys or credentials"})
	}
	if isBinary(content) {
		return out
	}
	for i, line := range strings.Split(string(content), "\n") {
		for _, r := range secretRules {
			for _, m := range r.re.FindAllStringSubmatch(line, -1) {
				if !allowedValues[strings.TrimSpace(m[1])] {
					out = append(out, finding{file: name, line: i + 1, rule: r.name})
				}
			}
		}
	}
	return out
}

func isBinary(b []byte) bool {
	if len(b) > 8000 {
		b = b[:8000]
	}
	return bytes.IndexByte(b, 0) >= 0
}

// errNotGit means root is not a git work tree (or git is missing).
var errNotGit = errors.New("not a git work tree")

// scanRepo scans every file git tracks under root (committed or staged), as it is on disk.
func scanRepo(root string) ([]finding, int, error) {
	cmd := exec.Command("git", "ls-files", "-z", "--cached")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return nil, 0, fmt.Errorf("%w: git ls-files in %s: %v", errNotGit, root, err)
	}
	var found []finding
	n := 0
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, name))
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted in the work tree, not yet in the index
		}
		if err != nil {
			return nil, n, err
		}
		n++
		found = append(found, scan(name, b)...)
	}
	return found, n, nil
}

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// No credential, key or password is in the repository.
func TestNoSecretsInRepository(t *testing.T) {
	found, n, err := scanRepo(repoRoot(t))
	if errors.Is(err, errNotGit) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if n < 50 {
		t.Fatalf("scanned only %d files; is git ls-files listing the repository?", n)
	}
	for _, f := range found {
		t.Errorf("secret in the repository: %s", f)
	}
}

// The scanner finds each kind of planted secret, in a file of a temporary git repository,
// and lets the allowed values and look-alikes pass.
func TestScannerFindsPlantedSecrets(t *testing.T) {
	// Built at run time, so that this file holds no secret-shaped string itself.
	keyID := "AKIA" + "Z7QXJ2KD4LM9PW3R"
	secret := strings.Repeat("aB3/", 10)
	cases := []struct {
		name, file, content string
		want                []string // rules found, in order
	}{
		{name: "access key id", file: "config.go", content: `const id = "` + keyID + `"`, want: []string{"AWS access key id"}},
		{name: "session key id", file: "a.txt", content: "ASIA" + "Z7QXJ2KD4LM9PW3R", want: []string{"AWS access key id"}},
		{name: "secret key in ini", file: "creds.ini", content: "aws_secret_access_key = " + secret, want: []string{"AWS secret access key"}},
		{name: "secret key in env", file: "run.sh", content: "export AWS_SECRET_ACCESS_KEY=" + secret, want: []string{"AWS secret access key"}},
		{name: "secret key in json", file: "x.json", content: `{"aws_secret_access_key": "` + secret + `"}`, want: []string{"AWS secret access key"}},
		{name: "rsa private key", file: "k.txt", content: "-----BEGIN RSA " + "PRIVATE KEY-----\nMIIE\n", want: []string{"private key"}},
		{name: "openssh private key", file: "k2.txt", content: "-----BEGIN OPENSSH " + "PRIVATE KEY-----", want: []string{"private key"}},
		{name: "password in url-ish config", file: "db.conf", content: "password=" + "hunter22", want: []string{"password"}},
		{name: "password in yaml", file: "c.yaml", content: "  Password: " + "Sup3rS3cret!", want: []string{"password"}},
		{name: "pem file by name", file: "certs/server.pem", content: "x", want: []string{"file that holds keys or credentials"}},
		{name: "dotenv by name", file: ".env", content: "X=1", want: []string{"file that holds keys or credentials"}},
		{name: "moto credentials are allowed", file: "m.go", content: `"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", password=test`},
		{name: "AWS documentation example is allowed", file: "doc.md", content: "AKIA" + "IOSFODNN7EXAMPLE"},
		{name: "env var names are not secrets", file: "n.go", content: `os.Getenv("AWS_SECRET_ACCESS_KEY"); password := os.Getenv("PW")`},
		{name: "a public key is not a private key", file: "p.txt", content: "-----BEGIN PUBLIC KEY-----"},
		{name: "a key id needs 16 more characters", file: "s.txt", content: "AKIA" + "SHORT"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			git := func(args ...string) {
				cmd := exec.Command("git", args...)
				cmd.Dir = root
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Skipf("git %v: %v %s", args, err, out) // no git: TestNoSecretsInRepository says so too
				}
			}
			git("init", "-q")
			path := filepath.Join(root, filepath.FromSlash(tc.file))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			git("add", tc.file)
			found, n, err := scanRepo(root)
			if err != nil || n != 1 {
				t.Fatalf("scanRepo: %d files, %v", n, err)
			}
			var got []string
			for _, f := range found {
				if f.file != tc.file {
					t.Errorf("finding names %q, want %q", f.file, tc.file)
				}
				got = append(got, f.rule)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("found %q, want %q", got, tc.want)
			}
		})
	}
}
