package server

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	slots          prometheus.Counter
	refused        *prometheus.CounterVec
	uploads        prometheus.Counter
	uploadedBytes  prometheus.Counter
	uploadsRefused *prometheus.CounterVec
	downloads      prometheus.Counter
	expired        prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		slots: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kontalk_upload_slots_total", Help: "Upload slots handed out."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kontalk_upload_slot_requests_refused_total", Help: "Slot requests refused, by reason."}, []string{"reason"}),
		uploads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kontalk_upload_uploads_total", Help: "Files uploaded."}),
		uploadedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kontalk_upload_uploaded_bytes_total", Help: "Bytes uploaded."}),
		uploadsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kontalk_upload_uploads_refused_total", Help: "HTTP uploads refused, by reason."}, []string{"reason"}),
		downloads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kontalk_upload_downloads_total", Help: "Downloads served."}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kontalk_upload_files_expired_total", Help: "Files deleted after their time."}),
	}
	reg.MustRegister(m.slots, m.refused, m.uploads, m.uploadedBytes, m.uploadsRefused, m.downloads, m.expired)
	return m
}
