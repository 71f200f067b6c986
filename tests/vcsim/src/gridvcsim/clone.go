package main

// Our change to govmomi 0.24.2's simulator for CloneVM_Task of a VM: its CloneVMTask clears the FileName of the
// SOURCE's disk backings in place (the device objects are shared with the clone's CreateVM), so after a clone the
// source VM names the clone's new, empty disk file, and destroying the clone takes the source's disk with it. A real
// vCenter full clone copies the source's disks and leaves the source as it was. This wrapper of the SOAP endpoint
// records the source's disk backings before a CloneVM_Task, and afterwards gives the source back device objects of
// its own with its original files, and copies each source disk file's bytes into the clone's file (a full copy).

import (
	"bytes"
	"io"
	"io/ioutil"
	"log"
	"net/http"
	"os"
	"path"
	"regexp"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

var cloneThis = regexp.MustCompile(`<CloneVM_Task[^>]*>\s*<_this[^>]*type="VirtualMachine"[^>]*>([^<]+)</_this>`)

// registerClone wraps the SDK endpoint (sdkPath) for each host name a client may use.
func registerClone(mux *http.ServeMux, service *simulator.Service, sdkPath string, hosts ...string) {
	seen := map[string]bool{}
	for _, h := range hosts {
		if !seen[h] {
			seen[h] = true
			mux.HandleFunc(h+sdkPath, func(w http.ResponseWriter, r *http.Request) { serveSdkFixingClone(service, w, r) })
		}
	}
}

type sourceDisk struct {
	index    int
	fileName string
	parent   *types.VirtualDiskFlatVer2BackingInfo
}

func serveSdkFixingClone(service *simulator.Service, w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		service.ServeSDK(w, r)
		return
	}
	body, err := ioutil.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = ioutil.NopCloser(bytes.NewReader(body))
	m := cloneThis.FindSubmatch(body)
	if m == nil {
		service.ServeSDK(w, r)
		return
	}
	src, ok := simulator.Map.Get(types.ManagedObjectReference{Type: "VirtualMachine", Value: string(m[1])}).(*simulator.VirtualMachine)
	if !ok {
		service.ServeSDK(w, r)
		return
	}
	var disks []sourceDisk
	simulator.Map.WithLock(src, func() {
		for i, d := range src.Config.Hardware.Device {
			if disk, ok := d.(*types.VirtualDisk); ok {
				if b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
					disks = append(disks, sourceDisk{i, b.FileName, b.Parent})
				}
			}
		}
	})
	service.ServeSDK(w, r) // the task runs to its end within the call (simulator.Task.Run)
	simulator.Map.WithLock(src, func() {
		for _, sd := range disks {
			disk, ok := src.Config.Hardware.Device[sd.index].(*types.VirtualDisk)
			if !ok {
				continue
			}
			b := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
			if b.FileName == sd.fileName {
				continue // not touched (the clone failed before its devices)
			}
			cloneFile := b.FileName
			own := *disk
			ownBacking := *b
			ownBacking.FileName, ownBacking.Parent = sd.fileName, sd.parent
			own.Backing = &ownBacking
			src.Config.Hardware.Device[sd.index] = &own
			if err := copyDatastoreFile(src, sd.fileName, cloneFile); err != nil {
				log.Printf("clone: copy %s -> %s: %v", sd.fileName, cloneFile, err)
			}
		}
	})
}

// copyDatastoreFile copies "[ds] a/b.vmdk" to "[ds] c/d.vmdk" on the local folders of the datastores of vm
// (each datacenter has its own datastores, which may share a name, so the name alone is not enough).
func copyDatastoreFile(vm *simulator.VirtualMachine, from, to string) error {
	f, t := localFile(vm, from), localFile(vm, to)
	if f == "" || t == "" {
		return nil
	}
	in, err := os.Open(f)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(t, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

func localFile(vm *simulator.VirtualMachine, name string) string {
	var dp object.DatastorePath
	if !dp.FromString(name) {
		return ""
	}
	for _, ref := range vm.Datastore {
		if ds, ok := simulator.Map.Get(ref).(*simulator.Datastore); ok && ds.Name == dp.Datastore {
			return path.Join(ds.Info.GetDatastoreInfo().Url, dp.Path)
		}
	}
	return ""
}
