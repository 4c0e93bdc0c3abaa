package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/vchain-dev/vchain/contract/host"
)

// TestCLIMigrate: `contract migrate` seals the contract on the old host,
// which then refuses calls naming the new host; the new host serves info,
// state and calls under the id the user knows (and the new one), and the
// moved contract's audit, covering the old log and the link, passes. Only
// the contract's creator can move it.
func TestCLIMigrate(t *testing.T) {
	dir := t.TempDir()
	urlA, _ := startDev(t, filepath.Join(dir, "a"))
	urlB, _ := startDev(t, filepath.Join(dir, "b"))
	bob, mallory := filepath.Join(dir, "bob.key"), filepath.Join(dir, "mallory.key")
	forum := filepath.Join("..", "..", "examples", "forum.js")
	cli, ok := contractCLI(t)
	id := ok(urlA, bob, "deploy", forum)
	ok(urlA, bob, "call", id, "addTopic", `"Hello world"`)
	ok(urlA, mallory, "call", id, "addPost", "1", `"mallory was here"`)

	// Mallory did not create the contract: her move is refused, and the
	// contract stays where it is.
	if _, errOut, code := cli(urlA, mallory, "migrate", id, "--to", urlB); code == 0 || !strings.Contains(errOut, "creator") {
		t.Fatalf("mallory's migrate: exit %d, %s", code, errOut)
	}
	ok(urlA, bob, "call", id, "addPost", "1", `"still here"`)

	newID := ok(urlA, bob, "migrate", id, "--to", urlB)
	if _, err := host.ParseContractID(newID); err != nil || newID == id {
		t.Fatalf("migrate printed %q", newID)
	}
	// The old host refuses calls and names the new one.
	b := ok(urlB, bob, "state", newID, "/topics/1/title") // (the new host answers)
	if b != "Hello world" {
		t.Fatalf("state on the new host: %q", b)
	}
	_, errOut, code := cli(urlA, mallory, "call", id, "addPost", "1", `"to the old host"`)
	if code == 0 || !strings.Contains(errOut, "moved") || !strings.Contains(errOut, urlB) {
		t.Fatalf("a call to the old host after the move: exit %d, %s", code, errOut)
	}
	// The new host serves the contract under the id the user knows.
	if got := ok(urlB, mallory, "call", id, "addPost", "1", `"on the new host"`); got != "3" {
		t.Fatalf("addPost on the new host by the old id returned %s, want 3", got)
	}
	if got := ok(urlB, bob, "call", newID, "addPost", "1", `"by the new id"`); got != "4" {
		t.Fatalf("addPost on the new host by the new id returned %s, want 4", got)
	}
	if got := ok(urlB, bob, "state", id, "/topics/1/3"); got != "on the new host" {
		t.Fatalf("state by the old id: %q", got)
	}
	if out := mustRun(t, "audit", "--host", urlB, "--contract", newID); !strings.Contains(out, "auditing the old call log first") || !strings.Contains(out, "audit OK") {
		t.Fatalf("audit of the moved contract:\n%s", out)
	}
	if out := mustRun(t, "audit", "--host", urlA, "--contract", id); !strings.Contains(out, "sealed for host") || !strings.Contains(out, "audit OK") {
		t.Fatalf("audit of the sealed contract on the old host:\n%s", out)
	}
	// Running migrate again finds the work done and prints the same id.
	if again := ok(urlA, bob, "migrate", id, "--to", urlB); again != newID {
		t.Fatalf("migrate again printed %q, want %q", again, newID)
	}

	// It moves again, B → C, with the same command and the id bob knows.
	urlC, _ := startDev(t, filepath.Join(dir, "c"))
	if _, errOut, code := cli(urlB, mallory, "migrate", id, "--to", urlC); code == 0 || !strings.Contains(errOut, "creator") {
		t.Fatalf("mallory's second migrate: exit %d, %s", code, errOut)
	}
	idC := ok(urlB, bob, "migrate", id, "--to", urlC, "--adopt-snapshot")
	if _, err := host.ParseContractID(idC); err != nil || idC == id || idC == newID {
		t.Fatalf("the second migrate printed %q", idC)
	}
	_, errOut, code = cli(urlB, mallory, "call", id, "addPost", "1", `"to b"`)
	if code == 0 || !strings.Contains(errOut, "moved") || !strings.Contains(errOut, urlC) {
		t.Fatalf("a call to b after the second move: exit %d, %s", code, errOut)
	}
	if got := ok(urlC, mallory, "call", id, "addPost", "1", `"on c"`); got != "5" {
		t.Fatalf("addPost on c by the first id returned %s, want 5", got)
	}
	if got := ok(urlC, bob, "state", id, "/topics/1/3"); got != "on the new host" {
		t.Fatalf("state on c by the first id: %q", got)
	}
	if out := mustRun(t, "audit", "--host", urlC, "--contract", idC); !strings.Contains(out, "moved here from "+newID) || !strings.Contains(out, "audit OK") {
		t.Fatalf("audit of the contract that moved twice:\n%s", out)
	}
	if again := ok(urlB, bob, "migrate", id, "--to", urlC); again != idC {
		t.Fatalf("the second migrate again printed %q, want %q", again, idC)
	}
}

// TestCLIMigrateRefusesBeforeSealing: a user who wrote to both hosts with
// one key has a different log on each, which the new host could not take
// in. The move is refused before anything is sealed, so the contract keeps
// working where it is (before, the seal went through and the import then
// failed, leaving a contract nobody could call or move).
func TestCLIMigrateRefusesBeforeSealing(t *testing.T) {
	dir := t.TempDir()
	urlA, _ := startDev(t, filepath.Join(dir, "a"))
	urlB, _ := startDev(t, filepath.Join(dir, "b"))
	bob, carol := filepath.Join(dir, "bob.key"), filepath.Join(dir, "carol.key")
	forum := filepath.Join("..", "..", "examples", "forum.js")
	cli, ok := contractCLI(t)
	ok(urlB, carol, "deploy", forum) // carol's log on B
	id := ok(urlA, bob, "deploy", forum)
	ok(urlA, carol, "call", id, "addTopic", `"carol on A"`) // and a different one on A

	_, errOut, code := cli(urlA, bob, "migrate", id, "--to", urlB)
	if code == 0 || !strings.Contains(errOut, "different log on the new host") || !strings.Contains(errOut, "nothing was sealed") {
		t.Fatalf("migrate with a user whose logs differ: exit %d, %s", code, errOut)
	}
	// Not sealed: the contract still takes calls on A.
	if got := ok(urlA, carol, "call", id, "addTopic", `"still on A"`); got != "2" {
		t.Fatalf("addTopic on A after the refused move returned %s, want 2", got)
	}
}

// contractCLI returns runners of `vchain contract SUB --host URL --key KEY
// ARGS...`: cli gives the trimmed output, stderr and exit code; ok fails
// the test unless the command succeeds and gives its output.
func contractCLI(t *testing.T) (cli func(url, key string, args ...string) (string, string, int), ok func(url, key string, args ...string) string) {
	cli = func(url, key string, args ...string) (string, string, int) {
		t.Helper()
		args = append([]string{"contract", args[0], "--host", url, "--key", key, "--new-key"}, args[1:]...)
		out, errOut, code := run(t, "", args...)
		return strings.TrimSpace(out), errOut, code
	}
	ok = func(url, key string, args ...string) string {
		t.Helper()
		out, errOut, code := cli(url, key, args...)
		if code != 0 {
			t.Fatalf("vchain contract %v: exit %d: %s", args, code, errOut)
		}
		return out
	}
	return cli, ok
}
