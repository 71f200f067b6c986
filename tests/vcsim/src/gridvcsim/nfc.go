package main

// Our change to govmomi 0.24.2's simulator: its NFC handler (simulator.ServeNFC) copies an uploaded disk to
// ioutil.Discard, so an OVF import (ImportVApp + HttpNfcLease upload) leaves the VM's disk an empty file. This
// handler takes /nfc/ uploads for the simulator's own host:port (a host-specific pattern wins over the package's
// "/nfc/") and writes the bytes into the datastore file the lease's device names, streamed, so an imported disk
// can be downloaded again through /folder/ and compared. GETs and unknown leases go to the original handler.

import (
	"io"
	"log"
	"net/http"
	"os"
	"path"
	"strings"
	"sync"
	_ "unsafe" // go:linkname

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// The simulator keeps its open NFC leases in this unexported map (lease moref -> *simulator.HttpNfcLease).
//
//go:linkname simNfcLeases github.com/vmware/govmomi/simulator.nfcLease
var simNfcLeases sync.Map

// registerNfc installs the upload handler for each host name a client may use to reach the server.
func registerNfc(mux *http.ServeMux, hosts ...string) {
	seen := map[string]bool{}
	for _, h := range hosts {
		if !seen[h] {
			seen[h] = true
			mux.HandleFunc(h+"/nfc/", serveNfcUpload)
		}
	}
}

func serveNfcUpload(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut && r.Method != http.MethodPost {
		simulator.ServeNFC(w, r)
		return
	}
	p := strings.Split(r.URL.Path, "/")
	if len(p) < 2 {
		http.NotFound(w, r)
		return
	}
	id, name := p[len(p)-2], p[len(p)-1]
	v, ok := simNfcLeases.Load(types.ManagedObjectReference{Type: "HttpNfcLease", Value: id})
	if !ok {
		http.NotFound(w, r)
		return
	}
	lease := v.(*simulator.HttpNfcLease)
	file := leaseFile(lease, name)
	if file == "" {
		http.NotFound(w, r)
		return
	}
	// Into a temporary name first: a broken upload never leaves a half disk under the VM's disk name.
	tmp := file + ".upload"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0600)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	n, err := io.Copy(f, r.Body)
	cerr := f.Close()
	if err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, file)
	}
	if err != nil {
		_ = os.Remove(tmp)
		log.Printf("nfc upload %s: %v", file, err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	log.Printf("nfc upload %s: %d bytes", file, n)
	w.WriteHeader(http.StatusOK)
}

// leaseFile finds the datastore file behind the lease's device whose target name is name (the file's base name,
// as ImportVApp builds the device URLs).
func leaseFile(lease *simulator.HttpNfcLease, name string) string {
	if lease.Info == nil {
		return ""
	}
	obj := simulator.Map.Get(lease.Info.Entity)
	vm, ok := obj.(*simulator.VirtualMachine)
	if !ok || vm.Config == nil {
		return ""
	}
	for _, d := range vm.Config.Hardware.Device {
		b, ok := d.GetVirtualDevice().Backing.(types.BaseVirtualDeviceFileBackingInfo)
		if !ok {
			continue
		}
		var dp object.DatastorePath
		if !dp.FromString(b.GetVirtualDeviceFileBackingInfo().FileName) || path.Base(dp.Path) != name {
			continue
		}
		for _, ref := range vm.Datastore {
			if ds, ok := simulator.Map.Get(ref).(*simulator.Datastore); ok && ds.Name == dp.Datastore {
				return path.Join(ds.Info.GetDatastoreInfo().Url, dp.Path)
			}
		}
	}
	return ""
}
