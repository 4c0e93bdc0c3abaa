package contract

import (
	"os"
	"strings"
	"testing"
)

// The examples of docs/contracts.md are the files in examples/; these tests
// run them and check that the document quotes them as they are.

func exampleSource(t testing.TB, name string) string {
	t.Helper()
	src, err := os.ReadFile("../examples/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(src)
}

// TestTokenExample runs examples/token.js: the creator gets the supply,
// transfers move it, and the failures the contract promises happen.
func TestTokenExample(t *testing.T) {
	alice, bob := strings.Repeat("a1", 32), strings.Repeat("b2", 32)
	e := newEnv(t, exampleSource(t, "token.js"))
	e.call.Caller = alice
	if got := e.ok("init", "[]"); got != "null" {
		t.Fatalf("init: %s", got)
	}
	if string(e.exports) != `{"holders":1,"owner":"`+alice+`","supply":1000000,"symbol":"TOK"}` {
		t.Fatalf("exports after init: %s", e.exports)
	}
	if got := e.ok("transfer", `["`+bob+`", 250]`); got != "999750" {
		t.Fatalf("transfer: %s", got)
	}
	if got := e.ok("balanceOf", `["`+bob+`"]`); got != "250" {
		t.Fatalf("balanceOf(bob): %s", got)
	}
	if string(e.st.files["/balances/"+bob]) != "250" || string(e.st.files["/balances/"+alice]) != "999750" {
		t.Fatalf("balance files: %q", e.st.files)
	}
	e.call.Caller = bob
	e.fails("transfer", `["`+alice+`", 251]`, Threw, "Error: insufficient balance: 250 < 251")
	e.fails("transfer", `["`+alice+`", 1.5]`, Threw, "RangeError: amount must be a positive integer")
	e.fails("transfer", `["mallory", 1]`, Threw, "TypeError: an account is 64 lowercase hex digits")
	// Spending everything removes the account's file.
	if got := e.ok("transfer", `["`+alice+`", 250]`); got != "0" {
		t.Fatalf("transfer back: %s", got)
	}
	if _, ok := e.st.files["/balances/"+bob]; ok || !strings.Contains(string(e.exports), `"holders":1`) {
		t.Fatalf("after bob spent all: files %q exports %s", e.st.files, e.exports)
	}
}

// TestDocQuotesExamples: docs/contracts.md quotes every example file whole.
func TestDocQuotesExamples(t *testing.T) {
	doc, err := os.ReadFile("../docs/contracts.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"forum.js", "token.js"} {
		if !strings.Contains(string(doc), "```js\n"+exampleSource(t, name)+"```\n") {
			t.Errorf("docs/contracts.md does not quote examples/%s as it is", name)
		}
	}
}
