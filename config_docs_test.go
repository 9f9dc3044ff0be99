package jwtextended

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// TestConfigFieldsDocumented: the config structs are their own
// documentation, as Caddy's modules are (its site generates module docs
// from these comments): every exported field of every exported struct of
// the root package has a doc comment of its own.
func TestConfigFieldsDocumented(t *testing.T) {
	t.Parallel()
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, p := range pkgs {
		for _, f := range p.Files {
			ast.Inspect(f, func(n ast.Node) bool {
				ts, ok := n.(*ast.TypeSpec)
				if !ok || !ts.Name.IsExported() {
					return true
				}
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					return true
				}
				for _, fld := range st.Fields.List {
					exported := len(fld.Names) == 0 // an embedded struct
					for _, name := range fld.Names {
						exported = exported || name.IsExported()
					}
					if !exported {
						continue
					}
					checked++
					if fld.Doc == nil || strings.TrimSpace(fld.Doc.Text()) == "" {
						t.Errorf("%s: a field of %s has no doc comment", fset.Position(fld.Pos()), ts.Name.Name)
					}
				}
				return true
			})
		}
	}
	if checked < 60 {
		t.Fatalf("only %d exported config fields found", checked)
	}
}
