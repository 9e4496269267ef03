"""Place names for the simulated sensors, so warnings name a place a duty officer knows.

Real central-Fuzhou streets, roads and rivers (two of the rivers are made up), in Chinese and
English; the sensors themselves are simulated.
"""

from __future__ import annotations

STREETS: tuple[tuple[str, str], ...] = (
    ("五一中路", "Wuyi Middle Rd"),
    ("八一七北路", "Bayiqi North Rd"),
    ("湖东路", "Hudong Rd"),
    ("杨桥路", "Yangqiao Rd"),
    ("工业路", "Gongye Rd"),
    ("白马路", "Baima Rd"),
    ("六一路", "Liuyi Rd"),
    ("华林路", "Hualin Rd"),
    ("北二环路", "North 2nd Ring Rd"),
    ("福飞路", "Fufei Rd"),
    ("金山大道", "Jinshan Ave"),
    ("浦上大道", "Pushang Ave"),
    ("连江路", "Lianjiang Rd"),
    ("福马路", "Fuma Rd"),
    ("江滨大道", "Jiangbin Ave"),
    ("鼓屏路", "Guping Rd"),
    ("东街", "Dong St"),
    ("西二环路", "West 2nd Ring Rd"),
    ("南二环路", "South 2nd Ring Rd"),
    ("洪山桥", "Hongshan Bridge"),
    ("铜盘路", "Tongpan Rd"),
    ("温泉路", "Wenquan Rd"),
    ("茶亭街", "Chating St"),
    ("台江路", "Taijiang Rd"),
    ("上下杭路", "Shangxiahang Rd"),
    ("则徐大道", "Zexu Ave"),
    ("首山路", "Shoushan Rd"),
    ("盘屿路", "Panyu Rd"),
    ("晋连路", "Jinlian Rd"),
    ("岳峰路", "Yuefeng Rd"),
    ("长乐中路", "Changle Middle Rd"),
    ("罗星路", "Luoxing Rd"),
    ("马江路", "Majiang Rd"),
    ("吴航路", "Wuhang Rd"),
    ("航城路", "Hangcheng Rd"),
    ("梅花路", "Meihua Rd"),
    ("闽江大道", "Minjiang Ave"),
    ("三环路", "3rd Ring Rd"),
    ("化工路", "Huagong Rd"),
    ("塔头路", "Tatou Rd"),
)


def ponding_place(index: int, *, underpass: bool) -> dict[str, str]:
    """``name_zh`` and ``name`` of the ``index``-th ponding sensor's site."""
    zh, en = STREETS[index % len(STREETS)]
    if underpass:
        return {"name_zh": f"{zh}下穿通道", "name": f"{en} underpass"}
    return {"name_zh": f"{zh}低洼路段", "name": f"{en} low point"}


ROADS_ZH: dict[str, str] = {
    "Wusi Road": "五四路",
    "Bayiqi Road": "八一七路",
    "Second Ring Road": "二环路",
    "Third Ring Road": "三环路",
    "Jiangbin Avenue": "江滨大道",
    "Fuma Road": "福马路",
    "Airport Expressway": "机场高速",
}

RIVERS_ZH: dict[str, str] = {
    "Baima River": "白马河",
    "Jin'an River": "晋安河",
    "Guangming Port": "光明港",
    "Liangcuo River": "梁厝河",
    "Mawei River": "马尾河",
    "Changle Canal": "长乐运河",
}


def road_place(corridor: str, number: int) -> dict[str, str]:
    """``name_zh`` and ``name`` of the ``number``-th speed sensor along a corridor."""
    return {
        "name_zh": f"{ROADS_ZH[corridor]}{number}号检测点",
        "name": f"{corridor} sensor {number}",
    }


def gauge_place(river: str, number: int) -> dict[str, str]:
    """``name_zh`` and ``name`` of the ``number``-th water-level gauge along a river."""
    return {"name_zh": f"{RIVERS_ZH[river]}{number}号水位站", "name": f"{river} gauge {number}"}
