package contract_test

import (
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/vchain-dev/vchain/contract"
)

// files is a tiny StateReader: a map of files plus the directories that
// writes created.
type files struct {
	data map[string][]byte
	dirs map[string]bool
}

func (f *files) ReadFile(p string) ([]byte, error) {
	if d, ok := f.data[p]; ok {
		return d, nil
	}
	return nil, fs.ErrNotExist
}
func (f *files) IsDir(p string) (bool, error) { return p == "/" || f.dirs[p], nil }
func (f *files) Exists(p string) (bool, error) {
	_, ok := f.data[p]
	return ok || p == "/" || f.dirs[p], nil
}
func (f *files) ReadDir(p string) ([]string, error) { return nil, nil } // unused here

func (f *files) apply(ws []contract.Write) {
	for _, w := range ws {
		switch w.Op {
		case contract.Mkdir:
			f.dirs[w.Path] = true
		case contract.WriteFile:
			f.data[w.Path] = w.Data
		}
	}
}

// The forum contract from examples/forum.js: create the topics directory,
// add a topic, add a post.
func Example_forum() {
	code, err := os.ReadFile("../examples/forum.js")
	if err != nil {
		panic(err)
	}
	limits := contract.DefaultLimits()
	p, err := contract.Compile(code, limits)
	if err != nil {
		panic(err)
	}
	exports, methods, err := p.Instantiate(limits)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s %v\n", exports, methods)

	state := &files{data: map[string][]byte{}, dirs: map[string]bool{}}
	pool := contract.NewPool()
	for _, c := range []contract.Call{
		{Method: "init", Args: []byte(`[]`)},
		{Method: "addTopic", Args: []byte(`["Hello world"]`)},
		{Method: "addPost", Args: []byte(`[1, "My name is bob"]`)},
	} {
		c.Caller, c.Time = "b0b", 1700000000000
		r := pool.Call(p, exports, state, c, limits)
		if r.Err != nil {
			panic(r.Err)
		}
		var ws []string
		for _, w := range r.Writes {
			ws = append(ws, w.Op.String()+" "+w.Path)
		}
		fmt.Printf("%s → %s, gas %d, writes [%s]\n", c.Method, r.Value, r.Gas, strings.Join(ws, ", "))
		state.apply(r.Writes)
		exports = r.Exports
	}
	fmt.Printf("%s %q\n", exports, state.data["/topics/1/1"])
	// Output:
	// {"postCounter":0,"topicCounter":0} [addPost addTopic init]
	// init → null, gas 123, writes [mkdir /topics]
	// addTopic → 1, gas 470, writes [mkdir /topics/1, writeFile /topics/1/title]
	// addPost → 1, gas 308, writes [writeFile /topics/1/1]
	// {"postCounter":1,"topicCounter":1} "My name is bob"
}
