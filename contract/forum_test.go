package contract

import (
	"os"
	"testing"
)

func forumSource(t testing.TB) []byte {
	t.Helper()
	src, err := os.ReadFile("../examples/forum.js")
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// TestForum runs the gist's example: the files it writes are the ones the
// gist lists.
func TestForum(t *testing.T) {
	src := forumSource(t)
	p, err := Compile(src, testLimits())
	if err != nil {
		t.Fatal(err)
	}
	exports, methods, err := p.Instantiate(testLimits())
	if err != nil {
		t.Fatal(err)
	}
	if string(exports) != `{"postCounter":0,"topicCounter":0}` {
		t.Fatalf("initial exports %s", exports)
	}
	if len(methods) != 3 || methods[0] != "addPost" || methods[1] != "addTopic" || methods[2] != "init" {
		t.Fatalf("methods %v", methods)
	}
	e := newEnv(t, string(src))
	e.call.Caller = "bob"

	r := e.do("init", `[]`)
	if r.Err != nil || string(r.Value) != "null" || len(r.Writes) != 1 || !isMkdir(r.Writes[0], "/topics") {
		t.Fatalf("init: %s", fmtResult(r))
	}
	r = e.do("addTopic", `["Hello world"]`)
	if r.Err != nil || string(r.Value) != "1" || len(r.Writes) != 2 ||
		!isMkdir(r.Writes[0], "/topics/1") ||
		r.Writes[1].Op != WriteFile || r.Writes[1].Path != "/topics/1/title" || string(r.Writes[1].Data) != "Hello world" {
		t.Fatalf("addTopic: %s", fmtResult(r))
	}
	r = e.do("addPost", `[1, "My name is bob"]`)
	if r.Err != nil || string(r.Value) != "1" || len(r.Writes) != 1 ||
		r.Writes[0].Op != WriteFile || r.Writes[0].Path != "/topics/1/1" || string(r.Writes[0].Data) != "My name is bob" {
		t.Fatalf("addPost: %s", fmtResult(r))
	}
	if string(e.exports) != `{"postCounter":1,"topicCounter":1}` {
		t.Fatalf("exports %s", e.exports)
	}
	if string(e.st.files["/topics/1/title"]) != "Hello world" || string(e.st.files["/topics/1/1"]) != "My name is bob" {
		t.Fatalf("state %v", e.st.files)
	}
	// init again: mkdir of an existing directory throws; nothing changes.
	e.fails("init", `[]`, Threw, "EEXIST")
}

func isMkdir(w Write, path string) bool { return w.Op == Mkdir && w.Path == path && w.Data == nil }
