package contract

import (
	"reflect"

	"github.com/dop251/goja/ast"
	"github.com/dop251/goja/file"
)

// goja has no AST visitor, so children are found by reflection: every field
// that holds an ast.Node (directly, through an interface, as an addressable
// struct value or in a slice) is a child. DeclarationList fields repeat
// nodes found elsewhere (hoisting) and are skipped, as is *file.File.

var (
	nodeType     = reflect.TypeFor[ast.Node]()
	fileType     = reflect.TypeFor[*file.File]()
	idxType      = reflect.TypeFor[file.Idx]()
	closerFields = map[string]bool{
		"RightParenthesis": true, "RightBracket": true, "RightBrace": true, "CloseQuote": true, "Closing": true,
	}
)

// children calls fn for each direct child of n, in field order.
func children(n ast.Node, fn func(ast.Node)) {
	v := reflect.ValueOf(n)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return
	}
	walkFields(v.Elem(), fn)
}

func walkFields(s reflect.Value, fn func(ast.Node)) {
	t := s.Type()
	for i := range s.NumField() {
		if t.Field(i).Name == "DeclarationList" {
			continue
		}
		walkValue(s.Field(i), fn)
	}
}

func walkValue(v reflect.Value, fn func(ast.Node)) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() || v.Type() == fileType {
			return
		}
		if v.Type().Implements(nodeType) {
			fn(v.Interface().(ast.Node))
		}
	case reflect.Interface:
		if !v.IsNil() {
			walkValue(v.Elem(), fn)
		}
	case reflect.Struct:
		if v.CanAddr() && v.Addr().Type().Implements(nodeType) {
			fn(v.Addr().Interface().(ast.Node))
			return
		}
		walkFields(v, fn)
	case reflect.Slice:
		for i := range v.Len() {
			walkValue(v.Index(i), fn)
		}
	}
}

// closerEnds calls fn with the offset just after each closing token that n
// records in a field (RightParenthesis, RightBracket, RightBrace, CloseQuote,
// and the Closing of a parenthesised parameter list).
func closerEnds(src string, n ast.Node, fn func(int)) {
	v := reflect.ValueOf(n)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return
	}
	s := v.Elem()
	t := s.Type()
	for i := range s.NumField() {
		f := t.Field(i)
		if f.Type != idxType || !closerFields[f.Name] {
			continue
		}
		off := int(s.Field(i).Int()) - 1
		if off < 0 || off >= len(src) {
			continue
		}
		if f.Name == "Closing" && src[off] != ')' {
			// A single-parameter arrow (x => ...) records the end of x here.
			fn(off)
			continue
		}
		fn(off + 1)
	}
}
