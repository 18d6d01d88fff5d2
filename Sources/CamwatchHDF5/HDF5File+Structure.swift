internal import CHDF5

extension HDF5File {
    /// The paths of all datasets in the file, walking groups depth-first, sorted by name within a group.
    ///
    /// Paths are relative to the root without a leading `/` (`layer1/0/conv1/weight`). Soft and external
    /// links are not followed, and a group reachable twice (a hard-link cycle) is walked once.
    /// - Throws: `HDF5Error` naming the group that cannot be read.
    public func datasetPaths() throws(HDF5Error) -> [String] {
        try withFile { file throws(HDF5Error) -> [String] in
            var paths: [String] = []
            var visited: Set<UInt64> = []
            try collectDatasets(file, group: "", into: &paths, visited: &visited)
            return paths
        }
    }

    /// The entries of a group, sorted by name.
    /// - Throws: `HDF5Error` when `group` does not exist or is not a group.
    public func members(ofGroup group: String = "/") throws(HDF5Error) -> [HDF5Member] {
        try withFile { file throws(HDF5Error) -> [HDF5Member] in try members(file, group: HDF5File.relative(group)) }
    }

    /// What `path` names, or `nil` when nothing by that name exists.
    /// - Throws: `HDF5Error` when the file cannot be read there.
    public func kind(of path: String) throws(HDF5Error) -> HDF5ObjectKind? {
        try withFile { file throws(HDF5Error) -> HDF5ObjectKind? in
            let absolute = HDF5File.absolute(path)
            guard H5.exists(file, absolute) else { return nil }
            let info = try step("cannot inspect", HDF5File.relative(path)) { () throws(HDF5CallFailure) in
                try H5.objectInfo(file, absolute)
            }
            return HDF5ObjectKind(info.kind)
        }
    }

    private func members(_ file: hid_t, group: String) throws(HDF5Error) -> [HDF5Member] {
        let name = group.isEmpty ? "/" : group
        let handle = try step("cannot open group", name) { () throws(HDF5CallFailure) in
            try H5.openGroup(file, HDF5File.absolute(group))
        }
        let count = try step("cannot list group", name) { () throws(HDF5CallFailure) in try H5.linkCount(handle.id) }
        var members: [HDF5Member] = []
        for index in 0..<count {
            let member = try step("cannot list group", name) { () throws(HDF5CallFailure) -> HDF5Member in
                let link = try H5.linkName(handle.id, index)
                guard try H5.linkIsHard(handle.id, link) else { return HDF5Member(name: link, kind: .link) }
                return HDF5Member(name: link, kind: HDF5ObjectKind(try H5.objectInfo(handle.id, link).kind))
            }
            members.append(member)
        }
        return members.sorted { $0.name < $1.name }
    }

    private func collectDatasets(
        _ file: hid_t, group: String, into paths: inout [String], visited: inout Set<UInt64>
    ) throws(HDF5Error) {
        let name = group.isEmpty ? "/" : group
        let handle = try step("cannot open group", name) { () throws(HDF5CallFailure) in
            try H5.openGroup(file, HDF5File.absolute(group))
        }
        let address = try step("cannot inspect group", name) { () throws(HDF5CallFailure) in
            try H5.objectInfo(handle.id, ".").address
        }
        guard visited.insert(address).inserted else { return }
        for member in try members(file, group: group) {
            let path = group.isEmpty ? member.name : group + "/" + member.name
            switch member.kind {
            case .dataset: paths.append(path)
            case .group: try collectDatasets(file, group: path, into: &paths, visited: &visited)
            case .link, .other: continue
            }
        }
    }
}

extension HDF5ObjectKind {
    init(_ kind: H5ObjectInfo.Kind) {
        switch kind {
        case .group: self = .group
        case .dataset: self = .dataset
        case .datatype, .other: self = .other
        }
    }
}
