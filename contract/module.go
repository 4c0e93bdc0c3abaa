package contract

import (
	"math/big"

	"github.com/dop251/goja/ast"
	"github.com/dop251/goja/token"
)

// A module's top level normally runs again before every call, so that no
// state can survive in module-level variables, closures or objects from one
// call to the next (a pooled runtime and a fresh one must behave alike).
//
// A "static" module skips that: it is evaluated once per runtime and its
// module-level values are deep-frozen. A module is static when its top
// level only declares and assigns, runs no contract code, and can create no
// object with hidden mutable state (a Map, a Date, a closure over a
// variable). Its statements are then only:
//
//   - function declarations;
//   - class declarations without static blocks or computed keys, extending
//     nothing or an identifier, whose static fields are static values;
//   - const declarations of identifiers, initialized with static values;
//   - assignments exports.name = value or exports["name"] = value of static
//     values;
//   - directives and empty statements;
//
// where a static value is a literal (strings, numbers, booleans, null), an
// identifier, a function, arrow or such a class, an object literal of
// static values (no getters, setters, spread or computed keys), an array
// literal of static values, or an operator expression or untagged template
// over literals only.
//
// For a static module the values of its top-level functions, classes and
// constants, and the functions it puts on exports, are deep-frozen after it
// runs (assigning to a property of a module-level constant throws a
// TypeError), the module's top-level gas is not charged to calls, and
// everything else is as for other modules. The forum example is static.

// staticModule reports whether prg is a static module, and the names of
// its top-level bindings (functions, classes, constants).
func staticModule(src string, prg *ast.Program) (names []string, ok bool) {
	name := func(id *ast.Identifier) string { return src[off(id.Idx):identEnd(src, off(id.Idx))] }
	for _, st := range prg.Body {
		switch s := st.(type) {
		case *ast.EmptyStatement:
		case *ast.FunctionDeclaration:
			if s.Function == nil || s.Function.Name == nil {
				return nil, false
			}
			names = append(names, name(s.Function.Name))
		case *ast.ClassDeclaration:
			if s.Class == nil || s.Class.Name == nil || !staticClass(s.Class) {
				return nil, false
			}
			names = append(names, name(s.Class.Name))
		case *ast.LexicalDeclaration:
			if s.Token != token.CONST {
				return nil, false
			}
			for _, b := range s.List {
				id, isID := b.Target.(*ast.Identifier)
				if !isID || b.Initializer == nil || !staticValue(b.Initializer) {
					return nil, false
				}
				names = append(names, name(id))
			}
		case *ast.ExpressionStatement:
			if _, directive := s.Expression.(*ast.StringLiteral); directive {
				continue
			}
			a, isAssign := s.Expression.(*ast.AssignExpression)
			if !isAssign || a.Operator != token.ASSIGN || !exportsTarget(a.Left) || !staticValue(a.Right) {
				return nil, false
			}
		default:
			return nil, false
		}
	}
	return names, true
}

// exportsTarget reports whether e is exports.name or exports["literal"].
func exportsTarget(e ast.Expression) bool {
	switch x := e.(type) {
	case *ast.DotExpression:
		id, ok := x.Left.(*ast.Identifier)
		return ok && id.Name == "exports"
	case *ast.BracketExpression:
		id, ok := x.Left.(*ast.Identifier)
		if !ok || id.Name != "exports" {
			return false
		}
		switch x.Member.(type) {
		case *ast.StringLiteral, *ast.NumberLiteral:
			return true
		}
	}
	return false
}

func staticValue(e ast.Expression) bool {
	switch x := e.(type) {
	case *ast.Identifier, *ast.FunctionLiteral, *ast.ArrowFunctionLiteral:
		return true
	case *ast.ClassLiteral:
		return staticClass(x)
	case *ast.ObjectLiteral:
		for _, p := range x.Value {
			switch q := p.(type) {
			case *ast.PropertyKeyed:
				if q.Computed || q.Kind != ast.PropertyKindValue && q.Kind != ast.PropertyKindMethod || !staticValue(q.Value) {
					return false
				}
			case *ast.PropertyShort:
				if q.Initializer != nil {
					return false
				}
			default:
				return false
			}
		}
		return true
	case *ast.ArrayLiteral:
		for _, v := range x.Value {
			if v != nil && !staticValue(v) {
				return false
			}
		}
		return true
	}
	return constant(e)
}

// constant reports whether e is built from literals only.
func constant(e ast.Expression) bool {
	switch x := e.(type) {
	case *ast.StringLiteral, *ast.BooleanLiteral, *ast.NullLiteral:
		return true
	case *ast.NumberLiteral:
		_, isBig := x.Value.(*big.Int)
		return !isBig
	case *ast.Identifier:
		return x.Name == "undefined" || x.Name == "NaN" || x.Name == "Infinity"
	case *ast.TemplateLiteral:
		if x.Tag != nil {
			return false
		}
		for _, s := range x.Expressions {
			if !constant(s) {
				return false
			}
		}
		return true
	case *ast.UnaryExpression:
		switch x.Operator {
		case token.MINUS, token.PLUS, token.NOT, token.BITWISE_NOT, token.TYPEOF, token.VOID:
			return constant(x.Operand)
		}
		return false
	case *ast.BinaryExpression:
		return constant(x.Left) && constant(x.Right)
	case *ast.ConditionalExpression:
		return constant(x.Test) && constant(x.Consequent) && constant(x.Alternate)
	}
	return false
}

func staticClass(c *ast.ClassLiteral) bool {
	if c.SuperClass != nil {
		if _, ok := c.SuperClass.(*ast.Identifier); !ok {
			return false
		}
	}
	for _, el := range c.Body {
		switch m := el.(type) {
		case *ast.MethodDefinition:
			if m.Computed {
				return false
			}
		case *ast.FieldDefinition:
			if m.Computed || m.Static && m.Initializer != nil && !staticValue(m.Initializer) {
				return false
			}
		default:
			return false
		}
	}
	return true
}
