package server

import (
	"net/url"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/xml"
)

// Namespaces the service answers.
const (
	nsUploadV02  = "urn:xmpp:http:upload"   // XEP-0363 v0.2, what Kontalk clients send
	nsUpload     = "urn:xmpp:http:upload:0" // XEP-0363 since v0.3
	nsDiscoInfo  = "http://jabber.org/protocol/disco#info"
	nsDiscoItems = "http://jabber.org/protocol/disco#items"
	nsDataForms  = "jabber:x:data"
	nsPing       = "urn:xmpp:ping"
)

// handleStanza answers the IQs sent to the service; everything else is
// ignored (a component has no use for messages or presence here).
func (s *Server) handleStanza(top *xml.Top) {
	if !top.Is("iq") {
		return
	}
	typ := top.Value("type")
	if typ != "get" && typ != "set" {
		return
	}
	iq, err := xml.Parse(top.Raw, scope)
	if err != nil {
		return // the router validated the bytes; nothing sensible to answer
	}
	from, id := iq.Attr("from"), iq.Attr("id")
	payload := firstChild(iq)
	var reply *xml.Element
	var serr *stanza.Error
	switch {
	case payload == nil:
		serr = &stanza.Error{Condition: stanza.BadRequest, Text: "empty IQ"}
	case payload.Space == nsDiscoInfo && typ == "get":
		reply = s.discoInfo()
	case payload.Space == nsDiscoItems && typ == "get":
		reply = xml.New("query", nsDiscoItems)
	case payload.Space == nsPing && typ == "get":
	case payload.Local() == "request" && (payload.Space == nsUploadV02 || payload.Space == nsUpload) && typ == "get":
		reply, serr = s.requestSlot(from, payload)
	default:
		serr = &stanza.Error{Condition: stanza.ServiceUnavailable, Text: "the upload service does not answer this request"}
	}
	out := xml.New("iq", "", xml.Attr{Name: "from", Value: s.opts.Name}, xml.Attr{Name: "to", Value: from},
		xml.Attr{Name: "id", Value: id}, xml.Attr{Name: "type", Value: "result"})
	if serr != nil {
		out.SetAttr("type", "error")
		if payload != nil {
			out.Append(payload)
		}
		out.Append(serr.Element())
	} else if reply != nil {
		out.Append(reply)
	}
	s.send(out.AppendXML(nil))
}

func firstChild(e *xml.Element) *xml.Element {
	for c := range e.Elements() {
		return c
	}
	return nil
}

// discoInfo describes the service (XEP-0030), with the maximum file size
// in a form per namespace (XEP-0363 §2, XEP-0128).
func (s *Server) discoInfo() *xml.Element {
	q := xml.New("query", nsDiscoInfo)
	q.Append(xml.New("identity", "", xml.Attr{Name: "category", Value: "store"},
		xml.Attr{Name: "type", Value: "file"}, xml.Attr{Name: "name", Value: "HTTP File Upload"}))
	for _, f := range []string{nsDiscoInfo, nsUploadV02, nsUpload} {
		q.Append(xml.New("feature", "", xml.Attr{Name: "var", Value: f}))
	}
	for _, ns := range []string{nsUploadV02, nsUpload} {
		x := xml.New("x", nsDataForms, xml.Attr{Name: "type", Value: "result"})
		x.Append(field("FORM_TYPE", "hidden", ns), field("max-file-size", "", strconv.FormatInt(s.opts.MaxSize, 10)))
		q.Append(x)
	}
	return q
}

func field(name, typ, value string) *xml.Element {
	f := xml.New("field", "", xml.Attr{Name: "var", Value: name})
	if typ != "" {
		f.SetAttr("type", typ)
	}
	return f.Append(xml.New("value", "").AppendText(value))
}

// requestSlot answers a slot request in either namespace.
func (s *Server) requestSlot(from string, req *xml.Element) (*xml.Element, *stanza.Error) {
	ns := req.Space
	var filename, size, ctype string
	if ns == nsUploadV02 {
		filename = childText(req, "filename")
		size = childText(req, "size")
		ctype = childText(req, "content-type")
	} else {
		filename, size, ctype = req.Attr("filename"), req.Attr("size"), req.Attr("content-type")
	}
	if !s.fromNetwork(from) {
		s.m.refused.WithLabelValues("not-network").Inc()
		return nil, &stanza.Error{Condition: stanza.NotAllowed, Text: "only users of " + s.opts.Network + " may upload here"}
	}
	n, err := strconv.ParseInt(size, 10, 64)
	if err != nil || n <= 0 || filename == "" {
		s.m.refused.WithLabelValues("bad-request").Inc()
		return nil, &stanza.Error{Condition: stanza.BadRequest, Text: "a file name and a positive size are required"}
	}
	if n > s.opts.MaxSize {
		s.m.refused.WithLabelValues("too-large").Inc()
		max := strconv.FormatInt(s.opts.MaxSize, 10)
		return nil, &stanza.Error{Condition: stanza.NotAcceptable, Text: "the file is larger than " + max + " bytes",
			App: xml.New("file-too-large", ns).Append(xml.New("max-file-size", "").AppendText(max))}
	}
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	if !s.allowedType(ctype) {
		s.m.refused.WithLabelValues("content-type").Inc()
		return nil, &stanza.Error{Condition: stanza.NotAcceptable, Text: "content type " + ctype + " is not accepted"}
	}
	id, err := newSlotID()
	if err != nil {
		return nil, &stanza.Error{Condition: stanza.InternalServerError}
	}
	sl := slot{ID: id, Filename: cleanFilename(filename), Size: n, ContentType: ctype, Expires: time.Now().Add(s.opts.SlotTTL)}
	get := s.opts.PublicURL + "/upload/" + sl.ID + "/" + url.PathEscape(sl.Filename)
	put := get + "?" + s.sign.putQuery(sl)
	s.m.slots.Inc()
	s.log.Debug("slot issued", zap.String("to", from), zap.String("id", sl.ID), zap.Int64("size", n), zap.String("type", ctype))
	out := xml.New("slot", ns)
	if ns == nsUploadV02 {
		out.Append(xml.New("put", "").AppendText(put), xml.New("get", "").AppendText(get))
	} else {
		out.Append(xml.New("put", "", xml.Attr{Name: "url", Value: put}), xml.New("get", "", xml.Attr{Name: "url", Value: get}))
	}
	return out, nil
}

func childText(e *xml.Element, local string) string {
	if c := e.Child(local, ""); c != nil {
		return c.Text()
	}
	return ""
}
