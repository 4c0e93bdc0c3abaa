package localnet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigErrorsNameTheField(t *testing.T) {
	dir := t.TempDir()
	if _, err := Create(dir, Options{Validators: 4, Proposers: 1, PeriodMS: 100, TimeoutMS: 1000, ViewLen: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "v1", "config.json")
	good, _ := os.ReadFile(path)
	for _, tc := range []struct{ from, to, want string }{
		{`"listen": "127.0.0.1:`, `"listen": "nowhere`, "listen"},
		{`"role": "validator"`, `"role": "king"`, "role"},
		{`"name": "v1"`, `"name": "v9"`, "name"},
		{`"http"`, `"htttp"`, "htttp"},
	} {
		os.WriteFile(path, []byte(strings.Replace(string(good), tc.from, tc.to, 1)), 0o644)
		_, err := Load(dir)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.want, err)
		}
	}
	os.WriteFile(path, good, 0o644)
	if _, err := Create(dir, Options{Validators: 4, Proposers: 1}); err == nil {
		t.Fatal("created a second localnet over the first")
	}
	if _, err := Create(t.TempDir(), Options{Validators: 5, Proposers: 1}); err == nil || !strings.Contains(err.Error(), "3f+1") {
		t.Fatalf("5 validators: %v", err)
	}
}
