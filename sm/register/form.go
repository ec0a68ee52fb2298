package register

import (
	"strings"

	"github.com/kontalk/xmppd/pkg/xml"
)

// NSData is the namespace of XEP-0004 data forms.
const NSData = "jabber:x:data"

// Bounds of a form read from a client: registration requests are small
// (the pre-auth stanza limit is 8 KiB; a rollover carries two key rings).
const (
	maxFields      = 32
	maxFieldValues = 8
)

// form is a submitted data form (XEP-0004): each field's values by var.
type form struct {
	fields map[string][]string
}

// parseForm reads the first jabber:x:data child of parent. It reports
// false when there is none; fields beyond the bounds are ignored, and
// a field without var is skipped.
func parseForm(parent *xml.Element) (*form, bool) {
	x := parent.Child("x", NSData)
	if x == nil {
		return nil, false
	}
	f := &form{fields: map[string][]string{}}
	for field := range x.ChildrenNamed("field", NSData) {
		name := field.Attr("var")
		if name == "" {
			continue
		}
		if _, seen := f.fields[name]; !seen && len(f.fields) >= maxFields {
			continue
		}
		values := f.fields[name]
		for v := range field.ChildrenNamed("value", NSData) {
			if len(values) >= maxFieldValues {
				break
			}
			values = append(values, v.Text())
		}
		if values == nil {
			values = []string{}
		}
		f.fields[name] = values
	}
	return f, true
}

// has reports whether the form has the field.
func (f *form) has(name string) bool {
	_, ok := f.fields[name]
	return ok
}

// value returns the field's first value, trimmed ("" when absent).
func (f *form) value(name string) string {
	if v := f.fields[name]; len(v) > 0 {
		return strings.TrimSpace(v[0])
	}
	return ""
}

// bool reads a boolean field: "1" or "true" (XEP-0004 §3.3).
func (f *form) bool(name string) bool {
	switch f.value(name) {
	case "1", "true":
		return true
	}
	return false
}

// formType is the FORM_TYPE field's value.
func (f *form) formType() string { return f.value("FORM_TYPE") }

// newForm starts a data form of type typ ("form", "result"): its title
// and instructions when given (they come first, XEP-0004 §3.1), then the
// hidden FORM_TYPE.
func newForm(typ, formType, title, instructions string) *xml.Element {
	x := xml.New("x", NSData, xml.Attr{Name: "type", Value: typ})
	if title != "" {
		x.Append(xml.New("title", "").AppendText(title))
	}
	if instructions != "" {
		x.Append(xml.New("instructions", "").AppendText(instructions))
	}
	field(x, "FORM_TYPE", "hidden", "", formType)
	return x
}

// field appends a field with its values to the form x and returns it.
func field(x *xml.Element, name, typ, label string, values ...string) *xml.Element {
	f := xml.New("field", "", xml.Attr{Name: "var", Value: name}, xml.Attr{Name: "type", Value: typ})
	if label != "" {
		f.SetAttr("label", label)
	}
	for _, v := range values {
		f.Append(xml.New("value", "").AppendText(v))
	}
	x.Append(f)
	return f
}
