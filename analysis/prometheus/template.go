package prometheus

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// Built-in arguments the controller passes to every query. A user argument of
// the same name is overridden by the built-in.
const (
	ArgNamespace        = "namespace"         // the Rollout's namespace
	ArgName             = "name"              // the Rollout's name
	ArgService          = "service"           // the service whose traffic is shifted
	ArgStableRevision   = "stable-revision"   // revision hash of the stable pods
	ArgCanaryRevision   = "canary-revision"   // revision hash of the canary pods
	ArgBaselineRevision = "baseline-revision" // revision hash of the baseline pods
)

// Args merges the arguments of a run: user arguments first, then the
// built-ins, which win. A built-in with an empty value (no baseline, say) is
// left out, so a query that refers to it fails with a missing-argument error
// instead of silently matching the empty label value.
func Args(builtins map[string]string, user []v1alpha1.AnalysisArg) map[string]string {
	out := make(map[string]string, len(builtins)+len(user))
	for _, a := range user {
		out[a.Name] = a.Value
	}
	for k, v := range builtins {
		if v == "" {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}

// TemplateError is a query template that cannot be rendered: a placeholder
// naming an argument that is not given, a malformed placeholder, or a value
// that cannot stand where its placeholder is.
type TemplateError struct {
	// Placeholder is the placeholder as written, e.g. "{{args.service}}".
	Placeholder string
	// Arg is the argument's name, when the placeholder names one.
	Arg string
	// Reason explains the problem.
	Reason string
}

func (e *TemplateError) Error() string {
	return fmt.Sprintf("query placeholder %s: %s", e.Placeholder, e.Reason)
}

var placeholderRe = regexp.MustCompile(`^\{\{\s*args\.([A-Za-z0-9_.-]+)\s*\}\}`)

// A value outside any string literal must be a single token that cannot add
// an operator, a selector or a call: a number, a duration or a name.
var (
	bareNumberRe   = regexp.MustCompile(`^-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$`)
	bareDurationRe = regexp.MustCompile(`^(?:[0-9]+(?:ms|s|m|h|d|w|y))+$`)
	bareNameRe     = regexp.MustCompile(`^[A-Za-z_:][A-Za-z0-9_:]*$`)
)

// lexical context of a placeholder in the query
type lexContext int

const (
	outside     lexContext = iota // PromQL syntax
	doubleQuote                   // inside "…"
	singleQuote                   // inside '…'
	backtick                      // inside `…` (a raw string, no escapes)
	comment                       // after # up to the end of the line
)

// Render replaces every {{args.NAME}} placeholder of query with the value of
// argument NAME, made safe for the place the placeholder stands, so that no
// value can change the query's shape:
//
//   - inside a double- or single-quoted string (a label matcher's value, a
//     label_replace argument), the value is escaped: backslash, the quote,
//     newline and every other control or non-printing character become
//     escape sequences, and invalid UTF-8 becomes \x escapes;
//   - inside a regular-expression matcher's string (=~ or !~), the value is
//     also quoted as a regular expression: an argument is a literal value
//     and cannot widen a matcher ("a|.*" matches only "a|.*");
//   - inside a backtick raw string, a value containing a backtick is refused;
//   - inside a # comment, the value is escaped as in a string, so it cannot
//     end the line;
//   - anywhere else, the value must be a number, a duration (5m, 1h30m) or a
//     name (a metric or label name); anything else is refused with advice to
//     put the placeholder inside double quotes.
//
// A placeholder naming an argument that args lacks, and a "{{" that does not
// start a well-formed placeholder, are errors (*TemplateError).
func Render(query string, args map[string]string) (string, error) {
	var b strings.Builder
	b.Grow(len(query))
	ctx := outside
	regex := false // the current string is a regular-expression matcher's
	for i := 0; i < len(query); {
		if strings.HasPrefix(query[i:], "{{") {
			m := placeholderRe.FindStringSubmatch(query[i:])
			if m == nil {
				end := strings.Index(query[i:], "}}")
				text := query[i:]
				if end >= 0 {
					text = query[i : i+end+2]
				}
				if len(text) > 64 {
					text = text[:64] + "…"
				}
				return "", &TemplateError{Placeholder: text, Reason: "malformed placeholder; write {{args.name}}"}
			}
			name := m[1]
			value, ok := args[name]
			if !ok {
				return "", &TemplateError{Placeholder: m[0], Arg: name, Reason: missingReason(name, args)}
			}
			safe, err := substitute(value, ctx, regex)
			if err != nil {
				return "", &TemplateError{Placeholder: m[0], Arg: name, Reason: err.Error()}
			}
			b.WriteString(safe)
			i += len(m[0])
			continue
		}
		c := query[i]
		b.WriteByte(c)
		i++
		switch ctx {
		case outside:
			switch c {
			case '"', '\'', '`':
				regex = precededByRegexOp(query[:i-1])
				switch c {
				case '"':
					ctx = doubleQuote
				case '\'':
					ctx = singleQuote
				default:
					ctx = backtick
				}
			case '#':
				ctx = comment
			}
		case doubleQuote, singleQuote:
			quote := byte('"')
			if ctx == singleQuote {
				quote = '\''
			}
			switch c {
			case '\\':
				if strings.HasPrefix(query[i:], "{{") {
					m := placeholderRe.FindString(query[i:])
					if m == "" {
						m = "{{"
					}
					return "", &TemplateError{Placeholder: m, Reason: "the placeholder follows a backslash, which would escape the value's first character; remove the backslash"}
				}
				if i < len(query) {
					b.WriteByte(query[i]) // the escaped character cannot end the string
					i++
				}
			case quote, '\n':
				ctx = outside
			}
		case backtick:
			if c == '`' {
				ctx = outside
			}
		case comment:
			if c == '\n' {
				ctx = outside
			}
		}
	}
	return b.String(), nil
}

func missingReason(name string, args map[string]string) string {
	known := make([]string, 0, len(args))
	for k := range args {
		known = append(known, k)
	}
	sort.Strings(known)
	if len(known) == 0 {
		return fmt.Sprintf("no argument %q is given (the run has no arguments)", name)
	}
	return fmt.Sprintf("no argument %q is given (known: %s)", name, strings.Join(known, ", "))
}

// precededByRegexOp tells whether the string literal about to start follows
// =~ or !~.
func precededByRegexOp(before string) bool {
	before = strings.TrimRightFunc(before, unicode.IsSpace)
	return strings.HasSuffix(before, "=~") || strings.HasSuffix(before, "!~")
}

func substitute(value string, ctx lexContext, regex bool) (string, error) {
	if regex {
		value = regexp.QuoteMeta(value)
	}
	switch ctx {
	case doubleQuote:
		return EscapeString(value, '"'), nil
	case singleQuote:
		return EscapeString(value, '\''), nil
	case comment:
		return EscapeString(value, '"'), nil
	case backtick:
		if strings.ContainsRune(value, '`') {
			return "", fmt.Errorf("the value contains a backtick, which would end the raw string it stands in; use a double-quoted string")
		}
		return value, nil
	}
	if bareNumberRe.MatchString(value) || bareDurationRe.MatchString(value) || bareNameRe.MatchString(value) {
		return value, nil
	}
	return "", fmt.Errorf("value %s stands outside a string literal, where only a number, a duration (5m) or a name is allowed; put the placeholder inside double quotes, e.g. label=\"{{args.x}}\"", quoteForMessage(value))
}

// EscapeString escapes s for use between quote characters (' or ") of a
// PromQL string literal: the result, put between the quotes, is a literal
// whose value is exactly s.
func EscapeString(s string, quote byte) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			fmt.Fprintf(&b, `\x%02x`, s[i])
			i++
			continue
		}
		i += size
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r < utf8.RuneSelf && byte(r) == quote:
			b.WriteByte('\\')
			b.WriteByte(quote)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case unicode.IsPrint(r):
			b.WriteRune(r)
		case r < 0x10000:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	return b.String()
}

// quoteForMessage shows a value in an error message, bounded and on one line.
func quoteForMessage(v string) string {
	if len(v) > 64 {
		v = v[:64] + "…"
	}
	return fmt.Sprintf("%q", v)
}
